//! Reading console pages: CSS selection and text, the key table's rows and cells, the reveal
//! page's key and the redirect that leads to it.

use reqwest::Response;
use scraper::{ElementRef, Html, Selector};

pub fn select<'a>(doc: &'a Html, css: &str) -> Vec<ElementRef<'a>> {
    doc.select(&Selector::parse(css).unwrap()).collect()
}

/// An element's text with runs of whitespace collapsed to one space.
pub fn text_of(el: &ElementRef<'_>) -> String {
    el.text().collect::<String>().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The text of the cell labelled `label` in the table row of key `id`.
pub fn cell(html: &str, id: i64, label: &str) -> String {
    let doc = Html::parse_document(html);
    let cells = select(&doc, &format!("tr[data-key-id=\"{id}\"] td[data-label=\"{label}\"]"));
    assert_eq!(cells.len(), 1, "no {label} cell for key {id} in:\n{html}");
    text_of(&cells[0])
}

/// The key ids in the key table, top to bottom.
pub fn row_ids(html: &str) -> Vec<i64> {
    let doc = Html::parse_document(html);
    select(&doc, "table.keys-table tr[data-key-id]")
        .iter()
        .map(|r| r.value().attr("data-key-id").unwrap().parse().unwrap())
        .collect()
}

/// The id in a `303 → /settings/api-keys/ID/reveal`.
#[track_caller]
pub fn reveal_id(res: &Response) -> i64 {
    assert_eq!(res.status(), 303, "expected a redirect to the reveal page");
    let loc = res.headers().get("location").unwrap().to_str().unwrap();
    let id = loc.strip_prefix("/settings/api-keys/").and_then(|r| r.strip_suffix("/reveal"));
    id.unwrap_or_else(|| panic!("not a reveal URL: {loc}")).parse().unwrap()
}

/// The full key on a reveal page, if it shows one.
pub fn secret_on(html: &str) -> Option<String> {
    let doc = Html::parse_document(html);
    select(&doc, "input#secret-key").first().map(|i| i.value().attr("value").unwrap().to_owned())
}

/// Whether the response forbids caching (`Cache-Control: no-store`).
pub fn no_store(res: &Response) -> bool {
    res.headers().get("cache-control").and_then(|v| v.to_str().ok()) == Some("no-store")
}
