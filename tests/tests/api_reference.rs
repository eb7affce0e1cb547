//! The local gateway's API reference page (`GET /docs`): Swagger UI, installed from the npm
//! registry and served by the gateway itself, rendered in headless Chromium, shows every
//! operation of openapi.yaml by its summary. The browser runs in a process group that is
//! killed however the test ends; the gateway is a task of this test's runtime.

use serde_json::Value;
use std::{collections::BTreeSet, time::Duration};
use wardline_shared::Context;
use wardline_tests::{load::Gateway, TestDb};
use xtask::{api_reference, browser, workspace_root, FUNCTIONS};

/// Every operation's summary in openapi.yaml, as HTML serializes text (`&`, `<`, `>` escaped).
fn summaries() -> BTreeSet<String> {
    let text = std::fs::read_to_string(workspace_root().join("openapi.yaml")).unwrap();
    let doc: Value = serde_yaml::from_str(&text).unwrap();
    let mut all = BTreeSet::new();
    for item in doc["paths"].as_object().expect("paths").values() {
        for operation in item.as_object().unwrap().values() {
            if let Some(summary) = operation["summary"].as_str() {
                all.insert(
                    summary
                        .replace('&', "&amp;")
                        .replace('<', "&lt;")
                        .replace('>', "&gt;"),
                );
            }
        }
    }
    all
}

#[tokio::test]
async fn the_docs_page_renders_every_operation_from_the_gateways_own_bundle() {
    api_reference::install().unwrap();
    let db = TestDb::new().await;
    let gateway = Gateway::serve(Context::new(db.config(|_| {})).unwrap(), db.jwks())
        .await
        .unwrap();

    // The page loads its script and style from the gateway, nothing from another origin.
    let http = reqwest::Client::new();
    let page = http
        .get(format!("{}/docs", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(!html.contains("://"), "{html}");
    let bundle = http
        .get(format!("{}/docs/swagger-ui-bundle.js", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(bundle.status(), 200);
    assert!(bundle.bytes().await.unwrap().len() > 100_000);
    let unknown = http
        .get(format!("{}/docs/package.json", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(
        unknown.status(),
        404,
        "only the page's own assets are served"
    );

    let url = format!("{}/docs", gateway.base);
    let dom = tokio::task::spawn_blocking(move || {
        browser::dump_dom(&url, Duration::from_secs(20), Duration::from_secs(120))
    })
    .await
    .unwrap()
    .unwrap();

    let summaries = summaries();
    assert!(summaries.len() > 100, "{}", summaries.len());
    let missing: Vec<_> = summaries.iter().filter(|s| !dom.contains(*s)).collect();
    assert!(
        missing.is_empty(),
        "{} of {} operation summaries are not on the rendered page: {missing:?}\n{}",
        missing.len(),
        summaries.len(),
        &dom[..dom.len().min(2_000)]
    );
    assert!(dom.contains("Wardline API"), "the title is rendered");
}

/// The gateway answers `/docs` and its assets before any function: no route may live there.
#[test]
fn no_function_route_is_shadowed_by_the_page() {
    for function in FUNCTIONS {
        for route in function.routes {
            assert!(
                !api_reference::serves(route.path)
                    && ["/docs", "/docs/swagger-ui-bundle.js"]
                        .iter()
                        .all(|path| wardline_shared::http::match_path(route.path, path).is_none()),
                "{} {} is shadowed by {}",
                route.method,
                route.path,
                api_reference::PATH
            );
        }
    }
}
