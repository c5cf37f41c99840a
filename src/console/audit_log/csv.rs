//! CSV for the audit-log download: every cell in double quotes (RFC 4180, inner quotes
//! doubled), and cells that a spreadsheet would run as a formula (starting with `=`, `+`,
//! `-`, `@`, tab or carriage return) prefixed with `'`.
//!
//! Quoting every cell, not only those holding a comma, matters where the spreadsheet splits
//! on another separator: a locale that uses `;` would cut an unquoted `x;=1+1` into `x` and a
//! formula `=1+1`. Inside quotes the separator is text, whichever it is.

/// One cell, neutralised and quoted.
pub fn cell(value: &str) -> String {
    let neutral = if value.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    format!("\"{}\"", neutral.replace('"', "\"\""))
}

/// One line of cells, ended with CRLF.
pub fn row<'a>(cells: impl IntoIterator<Item = &'a str>) -> String {
    let mut line = cells.into_iter().map(cell).collect::<Vec<_>>().join(",");
    line.push_str("\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
