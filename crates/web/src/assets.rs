//! Static files embedded in the binary, so one file deploys. URLs carry a content hash
//! (`/static/app.css?v=…`) and are cached for a year.

use actix_web::{web, HttpResponse};
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

struct Asset {
    name: &'static str,
    mime: &'static str,
    body: &'static [u8],
}

const ASSETS: &[Asset] = &[
    Asset {
        name: "app.css",
        mime: "text/css; charset=utf-8",
        body: include_bytes!("../../../static/app.css"),
    },
    Asset {
        name: "app.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/app.js"),
    },
    Asset {
        name: "cashier.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/cashier.js"),
    },
    Asset {
        name: "vendor-jsQR.js",
        mime: "text/javascript; charset=utf-8",
        body: include_bytes!("../../../static/vendor/jsQR.js"),
    },
    Asset {
        name: "favicon.svg",
        mime: "image/svg+xml",
        body: include_bytes!("../../../static/favicon.svg"),
    },
];

/// `/static/{name}?v={hash}` for templates.
pub fn url(name: &str) -> String {
    static HASHES: OnceLock<Vec<(&'static str, String)>> = OnceLock::new();
    let hashes = HASHES.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| (a.name, hex::encode(&Sha256::digest(a.body)[..6])))
            .collect()
    });
    match hashes.iter().find(|(n, _)| *n == name) {
        Some((_, h)) => format!("/static/{name}?v={h}"),
        None => format!("/static/{name}"),
    }
}

pub async fn serve(name: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.name == name.as_str()) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.mime)
            .insert_header(("Cache-Control", "public, max-age=31536000, immutable"))
            .body(a.body),
        None => crate::render::error_page(actix_web::http::StatusCode::NOT_FOUND),
    }
}
