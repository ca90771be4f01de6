//! The dashboard: `static/` embedded into the binary at build time and
//! served at `/` and `/assets/*`. It makes no request outside this server.

use super::extract::Path;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use super::openapi::{get_op, Routes};
use super::ApiError;

#[derive(RustEmbed)]
#[folder = "static/"]
struct Assets;

pub fn routes() -> Routes {
    Routes::new("server")
        .route("/", get(index), vec![get_op("The live dashboard (HTML)")])
        // The replaced service's pages, for old bookmarks.
        .route(
            "/index.html",
            get(|| async { Redirect::permanent("/") }),
            vec![get_op("The old dashboard's address: redirects to /").answers(308, "to /")],
        )
        .route(
            "/messages.html",
            get(|| async { Redirect::permanent("/#messages-section") }),
            vec![
                get_op("The old messages page: redirects to the dashboard's messages")
                    .answers(308, "to /#messages-section"),
            ],
        )
        .route(
            "/docs",
            get(docs_page),
            vec![get_op("A page that renders /openapi.json (works offline)")],
        )
        .route(
            "/assets/{*path}",
            get(asset),
            vec![get_op("The dashboard's and docs page's embedded files")
                .answers(404, "no such file")],
        )
}

async fn index() -> Response {
    serve("index.html")
}

/// `/docs`: renders `/openapi.json` with our own embedded page.
async fn docs_page() -> Response {
    serve("docs.html")
}

async fn asset(Path(path): Path<String>) -> Response {
    serve(&path)
}

fn serve(path: &str) -> Response {
    match Assets::get(path) {
        Some(file) => {
            let mime = match path.rsplit('.').next() {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript; charset=utf-8",
                Some("css") => "text/css; charset=utf-8",
                Some("svg") => "image/svg+xml",
                Some("png") => "image/png",
                _ => "application/octet-stream",
            };
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                file.data,
            )
                .into_response()
        }
        None => ApiError::new(StatusCode::NOT_FOUND, format!("no asset {path}")).into_response(),
    }
}

/// Every embedded file, for tests that check the assets make no external
/// request.
pub fn asset_names() -> Vec<String> {
    Assets::iter().map(|p| p.to_string()).collect()
}
