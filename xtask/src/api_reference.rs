//! The API reference page the local gateway serves at [`PATH`]: Swagger UI rendering
//! `/openapi.json`, its bundle installed from the npm registry (`xtask/api-reference/`, pinned
//! by its lockfile) into `target/tools/npm/api-reference` and served by the gateway itself, so
//! the page loads nothing from a CDN (and its validator badge, which would ask a remote
//! service, is off).

use crate::{npm, openapi, target_dir, workspace_root};
use anyhow::Result;
use http::{header::CONTENT_TYPE, HeaderValue, Method, StatusCode};
use lambda_http::Body;
use std::path::PathBuf;

/// Where the page is; its assets are below it.
pub const PATH: &str = "/docs";

/// The files of swagger-ui-dist the page loads, with their content types.
const ASSETS: &[(&str, &str)] = &[
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8"),
    ("swagger-ui.css", "text/css; charset=utf-8"),
    ("favicon-32x32.png", "image/png"),
];

/// Installs Swagger UI when it is missing (npm, and Node.js from Debian if need be).
pub fn install() -> Result<()> {
    npm::install(
        &workspace_root().join("xtask").join("api-reference"),
        "api-reference",
    )?;
    Ok(())
}

fn dist() -> PathBuf {
    target_dir()
        .join("tools/npm/api-reference/node_modules")
        .join("swagger-ui-dist")
}

/// Whether `path` is the page or one of its assets.
pub fn serves(path: &str) -> bool {
    path == PATH
        || path
            .strip_prefix(PATH)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// The gateway's answer for a path [`serves`] accepts.
pub fn answer(method: &Method, path: &str) -> lambda_http::Response<Body> {
    if method != Method::GET {
        return plain(StatusCode::METHOD_NOT_ALLOWED, "GET only\n");
    }
    let file = path[PATH.len()..].trim_start_matches('/');
    if file.is_empty() {
        return typed(Body::Text(page()), "text/html; charset=utf-8");
    }
    let Some((name, content_type)) = ASSETS.iter().find(|(name, _)| *name == file) else {
        return plain(StatusCode::NOT_FOUND, "not part of the API reference\n");
    };
    match std::fs::read(dist().join(name)) {
        Ok(bytes) => typed(Body::Binary(bytes), content_type),
        Err(_) => plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "Swagger UI is not installed: `cargo xtask local` installs it \
             (npm ci in xtask/api-reference's lockfile, into target/tools/npm/api-reference)\n",
        ),
    }
}

/// The page: Swagger UI's bundle, started on the gateway's own API description.
fn page() -> String {
    format!(
        r##"<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Wardline API reference</title>
  <link rel="stylesheet" href="{PATH}/swagger-ui.css">
  <link rel="icon" type="image/png" href="{PATH}/favicon-32x32.png">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{PATH}/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{spec}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
    }});
  </script>
</body>
</html>
"##,
        spec = openapi::PATH
    )
}

fn typed(body: Body, content_type: &'static str) -> lambda_http::Response<Body> {
    let mut response = lambda_http::Response::new(body);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn plain(status: StatusCode, text: &str) -> lambda_http::Response<Body> {
    let mut response = typed(Body::Text(text.to_owned()), "text/plain; charset=utf-8");
    *response.status_mut() = status;
    response
}
