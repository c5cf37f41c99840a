//! CSV for the audit-log download, written by the `csv` crate: every cell in double quotes
//! (RFC 4180, inner quotes doubled), lines ended with CRLF, and cells that a spreadsheet would
//! run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) prefixed with `'`.
//!
//! Quoting every cell, not only those holding a comma, matters where the spreadsheet splits
//! on another separator: a locale that uses `;` would cut an unquoted `x;=1+1` into `x` and a
//! formula `=1+1`. Inside quotes the separator is text, whichever it is.

use std::borrow::Cow;

use ::csv::{QuoteStyle, Terminator, Writer, WriterBuilder};

/// A CSV document being written in memory.
pub struct Sheet(Writer<Vec<u8>>);

impl Default for Sheet {
    fn default() -> Self {
        Self(
            WriterBuilder::new()
                .quote_style(QuoteStyle::Always)
                .terminator(Terminator::CRLF)
                .from_writer(Vec::new()),
        )
    }
}

impl Sheet {
    /// Adds one line of cells, each neutralised. Every line must have as many cells as the first.
    pub fn row<'a>(&mut self, cells: impl IntoIterator<Item = &'a str>) {
        self.0.write_record(cells.into_iter().map(neutral)).expect("a CSV line in memory is always written");
    }

    pub fn finish(self) -> String {
        let bytes = self.0.into_inner().expect("flushing a CSV in memory cannot fail");
        String::from_utf8(bytes).expect("CSV written from UTF-8 cells is UTF-8")
    }
}

/// `value` as a spreadsheet will show it, never run it (bytes: what the writer takes).
fn neutral(value: &str) -> Cow<'_, [u8]> {
    if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}").into_bytes().into()
    } else {
        value.as_bytes().into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A document of one line.
    fn row<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
        let mut sheet = Sheet::default();
        sheet.row(cells);
        sheet.finish()
    }

    /// One cell, neutralised and quoted.
    fn cell(value: &str) -> String {
        row([value]).strip_suffix("\r\n").unwrap().to_owned()
    }

    #[test]
    fn formulas_are_neutralised_and_every_cell_quoted() {
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("+1"), "\"'+1\"");
        assert_eq!(cell("-2"), "\"'-2\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("\tx"), "\"'\tx\"");
        assert_eq!(cell("plain"), "\"plain\"");
        assert_eq!(cell(""), "\"\"");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("x;=1+1"), "\"x;=1+1\"");
        assert_eq!(cell("line\nbreak"), "\"line\nbreak\"");
        assert_eq!(row(["a", "=b"]), "\"a\",\"'=b\"\r\n");
    }

    #[test]
    fn lines_follow_one_another() {
        let mut sheet = Sheet::default();
        sheet.row(["a", "b"]);
        sheet.row(["", "\r=x"]);
        assert_eq!(sheet.finish(), "\"a\",\"b\"\r\n\"\",\"'\r=x\"\r\n");
    }
}
