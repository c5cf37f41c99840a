//! The JSON error body every `/api/` response uses: `{"error":{"code":..,"message":..}}`.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use serde::Serialize;

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

#[derive(Serialize)]
struct Detail<'a> {
    code: &'a str,
    message: &'a str,
}

/// A JSON error response with the given status, machine code and human message.
pub fn json_error(status: StatusCode, code: &str, message: &str) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header(("Cache-Control", "no-store"))
        .json(Body { error: Detail { code, message } })
}

/// The same body as [`json_error`] as one line of ASCII (anything else written `\uXXXX`), so
/// it fits in an HTTP header: a proxy that cannot pass an error body through can echo this.
pub fn json_error_ascii(code: &str, message: &str) -> String {
    let json = serde_json::to_string(&Body { error: Detail { code, message } })
        .expect("a struct of strings serializes");
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{unit:04x}"));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_ascii_body_is_the_same_json_in_ascii() {
        let line = json_error_ascii("invalid_permission", "Not a permission: \"r\u{e9}cords\u{1f511}\"\n");
        assert!(line.is_ascii() && !line.contains('\n'), "{line}");
        let back: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["error"]["code"], "invalid_permission");
        assert_eq!(back["error"]["message"], "Not a permission: \"r\u{e9}cords\u{1f511}\"\n");
    }
}
