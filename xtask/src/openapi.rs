//! The API description: `openapi.yaml` at the workspace root is the contract (checked against
//! the functions' routes by `tests/tests/openapi.rs`), embedded here and served as JSON by the
//! local gateway at [`PATH`].

use serde_json::Value;
use std::sync::LazyLock;
use wardline_shared::Error;

/// Where the local gateway serves the document; no function route may use it.
pub const PATH: &str = "/openapi.json";

/// `openapi.yaml` as written.
pub const YAML: &str = include_str!("../../openapi.yaml");

/// The document as JSON text, converted on first use rather than per request.
static JSON: LazyLock<Result<String, String>> = LazyLock::new(|| {
    let document: Value = serde_yaml::from_str(YAML).map_err(|e| e.to_string())?;
    serde_json::to_string(&document).map_err(|e| e.to_string())
});

/// The document as JSON text; a 500 if `openapi.yaml` is not valid YAML (the tests fail first).
pub fn json() -> Result<&'static str, Error> {
    JSON.as_deref()
        .map_err(|e| Error::internal(format!("openapi.yaml: {e}")))
}
