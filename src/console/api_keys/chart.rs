//! The usage chart on a key's page: requests per UTC day as stacked bars (allowed below,
//! denied above), drawn as inline SVG by the template from the geometry computed here. Pure:
//! no database, no HTML, so the maths is tested in place (scaling, empty days, one huge day).

use chrono::NaiveDate;

/// The drawing's coordinate box (the SVG's `viewBox`); it scales to the page's width.
pub const WIDTH: f64 = 720.0;
pub const HEIGHT: f64 = 220.0;
/// Room for the y-axis labels on the left and the dates below.
const LEFT: f64 = 48.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 10.0;
const BOTTOM: f64 = 28.0;
/// Part of each day's slot the bar fills (the rest is the gap between bars).
const BAR_SHARE: f64 = 0.7;
/// The least height of a bar segment that has any requests, so one request still shows
/// beside a day of millions.
const MIN_VISIBLE: f64 = 1.5;

/// One day's bar: its slot and its two stacked segments (height 0 when empty).
#[derive(Clone, Debug, PartialEq)]
pub struct Bar {
    pub x: String,
    pub width: String,
    pub allowed_y: String,
    pub allowed_h: String,
    pub denied_y: String,
    pub denied_h: String,
    pub has_allowed: bool,
    pub has_denied: bool,
    /// "2 Dec: 120 allowed, 3 denied", the bar's tooltip.
    pub title: String,
}

/// A labelled line across the plot.
#[derive(Clone, Debug, PartialEq)]
pub struct Tick {
    pub y: String,
    pub label: String,
}

/// A date under the x axis.
#[derive(Clone, Debug, PartialEq)]
pub struct DayLabel {
    pub x: String,
    pub label: String,
}

/// Everything the template draws.
#[derive(Clone, Debug, PartialEq)]
pub struct Chart {
    pub width: f64,
    pub height: f64,
    pub bars: Vec<Bar>,
    pub ticks: Vec<Tick>,
    pub days: Vec<DayLabel>,
    /// The top of the y axis: a round figure at or above the busiest day.
    pub max: i64,
    /// The plot's left edge and bottom, for the axes.
    pub left: String,
    pub right: String,
    pub baseline: String,
}

/// The smallest round figure (1, 2 or 5 times a power of ten) at or above `n`, at least 1.
pub fn nice_ceiling(n: i64) -> i64 {
    let n = n.max(1);
    let mut step = 1_i64;
    loop {
        for m in [1, 2, 5] {
            if let Some(v) = step.checked_mul(m)
                && v >= n
            {
                return v;
            }
        }
        match step.checked_mul(10) {
            Some(next) => step = next,
            None => return i64::MAX,
        }
    }
}

/// Segment heights for `allowed` and `denied` in a plot `plot_h` tall whose top is `max`:
/// proportional, a non-zero count never thinner than [`MIN_VISIBLE`], and the two together
/// never above the plot.
pub fn segment_heights(allowed: i64, denied: i64, max: i64, plot_h: f64) -> (f64, f64) {
    let scale = |n: i64| {
        if n <= 0 { 0.0 } else { (n as f64 / max.max(1) as f64 * plot_h).max(MIN_VISIBLE) }
    };
    let (a, d) = (scale(allowed), scale(denied));
    let over = (a + d - plot_h).max(0.0);
    // Only the minimum heights can push a stack past the top; take it off the larger segment.
    if a >= d { ((a - over).max(0.0), d) } else { (a, (d - over).max(0.0)) }
}

fn px(v: f64) -> String {
    format!("{v:.1}")
}

/// `1234567` → `1.2M`, `12000` → `12k`: labels that fit beside the axis.
pub fn short_count(n: i64) -> String {
    let f = n as f64;
    if n >= 1_000_000 {
        trim(format!("{:.1}", f / 1_000_000.0)) + "M"
    } else if n >= 1_000 {
        trim(format!("{:.1}", f / 1_000.0)) + "k"
    } else {
        n.to_string()
    }
}

fn trim(s: String) -> String {
    s.strip_suffix(".0").map(str::to_owned).unwrap_or(s)
}

/// The chart of `days` (oldest first): `(day, allowed, denied)`.
pub fn chart(days: &[(NaiveDate, i64, i64)]) -> Chart {
    let busiest = days.iter().map(|(_, a, d)| a.saturating_add(*d)).max().unwrap_or(0);
    let max = nice_ceiling(busiest);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let baseline = TOP + plot_h;
    let slot = plot_w / days.len().max(1) as f64;
    let bar_w = slot * BAR_SHARE;
    let bars = days
        .iter()
        .enumerate()
        .map(|(i, (day, allowed, denied))| {
            let (a_h, d_h) = segment_heights(*allowed, *denied, max, plot_h);
            let x = LEFT + slot * i as f64 + (slot - bar_w) / 2.0;
            Bar {
                x: px(x),
                width: px(bar_w),
                allowed_y: px(baseline - a_h),
                allowed_h: px(a_h),
                denied_y: px(baseline - a_h - d_h),
                denied_h: px(d_h),
                has_allowed: a_h > 0.0,
                has_denied: d_h > 0.0,
                title: format!("{}: {allowed} allowed, {denied} denied", day.format("%-d %b")),
            }
        })
        .collect();
    // A middle line only where it is a round figure too (half of 10, not of 5).
    let marks = if max % 2 == 0 { vec![0, max / 2, max] } else { vec![0, max] };
    let ticks = marks
        .into_iter()
        .map(|v| Tick { y: px(baseline - v as f64 / max as f64 * plot_h), label: short_count(v) })
        .collect();
    // A date under every fifth bar from the newest back, so today is always labelled.
    let n = days.len();
    let day_labels = days
        .iter()
        .enumerate()
        .filter(|(i, _)| (n - 1 - i).is_multiple_of(5))
        .map(|(i, (day, _, _))| DayLabel {
            x: px(LEFT + slot * i as f64 + slot / 2.0),
            label: day.format("%-d %b").to_string(),
        })
        .collect();
    Chart {
        width: WIDTH,
        height: HEIGHT,
        bars,
        ticks,
        days: day_labels,
        max,
        left: px(LEFT),
        right: px(WIDTH - RIGHT),
        baseline: px(baseline),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn days(counts: &[(i64, i64)]) -> Vec<(NaiveDate, i64, i64)> {
        let first = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        first.iter_days().zip(counts).map(|(d, (a, x))| (d, *a, *x)).collect()
    }

    fn f(s: &str) -> f64 {
        s.parse().unwrap()
    }

    #[test]
    fn the_axis_tops_out_at_a_round_figure() {
        assert_eq!(nice_ceiling(0), 1);
        assert_eq!(nice_ceiling(1), 1);
        assert_eq!(nice_ceiling(3), 5);
        assert_eq!(nice_ceiling(7), 10);
        assert_eq!(nice_ceiling(101), 200);
        assert_eq!(nice_ceiling(4_999_999), 5_000_000);
        assert_eq!(nice_ceiling(i64::MAX), i64::MAX);
        assert_eq!(short_count(1_200_000), "1.2M");
        assert_eq!(short_count(2_000), "2k");
        assert_eq!(short_count(950), "950");
    }

    #[test]
    fn thirty_empty_days_draw_an_axis_and_no_bars() {
        let c = chart(&days(&[(0, 0); 30]));
        assert_eq!(c.bars.len(), 30);
        assert!(c.bars.iter().all(|b| !b.has_allowed && !b.has_denied && f(&b.allowed_h) == 0.0));
        assert_eq!(c.max, 1);
        // Every fifth day from the newest: 6 labels, the last one under the newest bar.
        assert_eq!(c.days.len(), 6);
        assert_eq!(c.days.last().unwrap().label, "2 Dec");
    }

    #[test]
    fn bars_scale_to_the_axis_and_stack() {
        let c = chart(&days(&[(40, 10), (100, 0), (0, 0)]));
        assert_eq!(c.max, 100);
        let plot_h = HEIGHT - TOP - BOTTOM;
        let [a, b, z] = [&c.bars[0], &c.bars[1], &c.bars[2]];
        assert!((f(&a.allowed_h) - 0.4 * plot_h).abs() < 0.1);
        assert!((f(&a.denied_h) - 0.1 * plot_h).abs() < 0.1);
        // The denied segment sits on top of the allowed one.
        assert!((f(&a.denied_y) + f(&a.denied_h) - f(&a.allowed_y)).abs() < 0.15);
        assert!((f(&b.allowed_h) - plot_h).abs() < 0.1 && !b.has_denied);
        assert!(!z.has_allowed && !z.has_denied);
        assert_eq!(a.title, "3 Nov: 40 allowed, 10 denied");
        assert_eq!(c.ticks.iter().map(|t| t.label.as_str()).collect::<Vec<_>>(), ["0", "50", "100"]);
    }

    #[test]
    fn one_huge_day_leaves_small_days_visible_and_stays_inside() {
        let c = chart(&days(&[(1, 0), (9_000_000_000, 1), (0, 1)]));
        assert_eq!(c.max, 10_000_000_000);
        let plot_h = HEIGHT - TOP - BOTTOM;
        assert!(c.bars[0].has_allowed && f(&c.bars[0].allowed_h) >= MIN_VISIBLE);
        assert!(c.bars[2].has_denied && f(&c.bars[2].denied_h) >= MIN_VISIBLE);
        let huge = &c.bars[1];
        assert!(huge.has_denied, "one denial beside billions still shows");
        assert!(f(&huge.allowed_h) + f(&huge.denied_h) <= plot_h + 0.05);
        assert!(f(&huge.denied_y) >= TOP - 0.05, "nothing drawn above the plot");
        let (a, d) = segment_heights(1, 1, 1, 2.0);
        assert!(a + d <= 2.0 && d >= 0.0);
    }
}
