//! The stylesheet and script, compiled into the binary so it runs from any folder.
//! Their URLs carry a content hash, so they can be cached for a year.

use std::sync::LazyLock;

use sha2::{Digest, Sha256};

const APP_CSS: &str = include_str!("../../static/app.css");
const APP_JS: &str = include_str!("../../static/app.js");

/// A short hash of both assets, appended as `?v=` by the layout.
pub static ASSET_VERSION: LazyLock<String> = LazyLock::new(|| {
    let mut h = Sha256::new();
    h.update(APP_CSS);
    h.update(APP_JS);
    hex::encode(&h.finalize()[..6])
});

/// A file's body and content type, by name.
pub fn file(name: &str) -> Option<(&'static str, &'static str)> {
    match name {
        "app.css" => Some((APP_CSS, "text/css; charset=utf-8")),
        "app.js" => Some((APP_JS, "text/javascript; charset=utf-8")),
        _ => None,
    }
}
