//! The route table is declared once, in each function's `FUNCTION.routes`; template.yaml's
//! events and the cargo-lambda router in Cargo.toml are written from it by `cargo xtask
//! routes`, and this fails when the committed files are not what it writes.

use std::collections::BTreeSet;
use xtask::{workspace_root, FUNCTIONS};

type RouteSet = BTreeSet<(String, String, String)>;

fn declared() -> RouteSet {
    FUNCTIONS
        .iter()
        .flat_map(|f| {
            f.routes
                .iter()
                .map(|r| (f.name.to_owned(), r.method.to_string(), r.path.to_owned()))
        })
        .collect()
}

fn in_template() -> RouteSet {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut routes = RouteSet::new();
    let resources = template["Resources"].as_mapping().expect("Resources");
    for (_, resource) in resources {
        if resource["Type"].as_str() != Some("AWS::Serverless::Function") {
            continue;
        }
        let binary = resource["Metadata"]["BuildProperties"]["Binary"]
            .as_str()
            .expect("every function names its Binary");
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let props = &event["Properties"];
                routes.insert((
                    binary.to_owned(),
                    props["Method"].as_str().unwrap().to_uppercase(),
                    props["Path"].as_str().unwrap().to_owned(),
                ));
            }
        }
    }
    routes
}

fn in_cargo_lambda_router() -> RouteSet {
    let text = std::fs::read_to_string(workspace_root().join("Cargo.toml")).unwrap();
    let manifest: toml::Value = toml::from_str(&text).unwrap();
    let router = manifest["workspace"]["metadata"]["lambda"]["watch"]["router"]
        .as_table()
        .expect("[workspace.metadata.lambda.watch.router]");
    let mut routes = RouteSet::new();
    for (path, targets) in router {
        for target in targets.as_array().expect("a list of {method, function}") {
            routes.insert((
                target["function"].as_str().unwrap().to_owned(),
                target["method"].as_str().unwrap().to_uppercase(),
                path.clone(),
            ));
        }
    }
    routes
}

#[test]
fn the_generated_files_are_what_the_route_tables_write() {
    for (name, generate) in xtask::routes::FILES {
        let committed = std::fs::read_to_string(workspace_root().join(name)).unwrap();
        let generated = generate(&committed).unwrap();
        assert!(
            generated == committed,
            "{name} differs from the route tables: run `{}` and commit the result",
            xtask::routes::COMMAND
        );
    }
}

#[test]
fn route_names_are_unique_event_names() {
    let mut seen = BTreeSet::new();
    for route in FUNCTIONS.iter().flat_map(|f| f.routes.iter()) {
        assert!(
            route.name.bytes().all(|b| b.is_ascii_alphanumeric()),
            "{}: an event name is alphanumeric",
            route.name
        );
        assert!(seen.insert(route.name), "{} is used twice", route.name);
    }
}

#[test]
fn template_yaml_matches_the_functions_routes() {
    assert_eq!(in_template(), declared());
}

#[test]
fn the_cargo_lambda_router_matches_the_functions_routes() {
    assert_eq!(in_cargo_lambda_router(), declared());
}

#[test]
fn every_function_is_a_workspace_crate_with_a_binary_of_its_name() {
    for function in FUNCTIONS {
        let main = workspace_root()
            .join("functions")
            .join(function.name)
            .join("src/main.rs");
        assert!(main.exists(), "{} has no main.rs", function.name);
    }
}

/// Whether `a` is the more specific of two overlapping templates: at the first segment where
/// they differ, `a` has a literal and `b` a parameter (`/therapists/new` over
/// `/therapists/{therapistId}`).
fn more_specific(a: &str, b: &str) -> bool {
    a.split('/')
        .zip(b.split('/'))
        .find(|(x, y)| x != y)
        .is_some_and(|(x, y)| !x.starts_with('{') && y.starts_with('{'))
}

/// Two routes with one method match one path only within one function, the more specific one
/// declared first: API Gateway prefers literal segments, and `dispatch` takes the first match
/// in the table, so both send such a path to the same handler.
#[test]
fn no_two_routes_overlap_but_a_literal_before_its_parameter() {
    let all: Vec<_> = FUNCTIONS
        .iter()
        .flat_map(|f| f.routes.iter().map(move |r| (f.name, r)))
        .collect();
    let probe = |path: &str| path.replace(['{', '}'], "");
    for (i, (function_a, a)) in all.iter().enumerate() {
        for (function_b, b) in &all[i + 1..] {
            let clash = a.method == b.method
                && (wardline_shared::http::match_path(b.path, &probe(a.path)).is_some()
                    || wardline_shared::http::match_path(a.path, &probe(b.path)).is_some());
            assert!(
                !clash || (function_a == function_b && more_specific(a.path, b.path)),
                "{} {} and {} {} overlap",
                a.method,
                a.path,
                b.method,
                b.path
            );
        }
    }
    assert!(more_specific(
        "/therapists/new",
        "/therapists/{therapistId}"
    ));
    assert!(!more_specific(
        "/therapists/{therapistId}",
        "/therapists/new"
    ));
}

#[test]
fn every_function_in_the_template_is_a_crate_with_a_binary() {
    let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
    let template: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut binaries = Vec::new();
    for (_, resource) in template["Resources"].as_mapping().expect("Resources") {
        if resource["Type"].as_str() == Some("AWS::Serverless::Function") {
            let binary = resource["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("every function names its Binary");
            let main = workspace_root()
                .join("functions")
                .join(binary)
                .join("src/main.rs");
            assert!(
                main.exists(),
                "{binary} has no functions/{binary}/src/main.rs"
            );
            binaries.push(binary.to_owned());
        }
    }
    assert!(binaries.iter().any(|b| b == "hold-cleanup"), "{binaries:?}");
}

/// `shared::metrics` counts the 409s of these routes as booking conflicts: each must be a
/// route (a renamed one would silently stop counting).
#[test]
fn every_booking_route_the_metrics_name_is_a_route() {
    let names: BTreeSet<&str> = FUNCTIONS
        .iter()
        .flat_map(|f| f.routes.iter().map(|r| r.name))
        .collect();
    for booking in wardline_shared::metrics::BOOKING_ROUTES {
        assert!(names.contains(booking), "{booking} is not a route name");
    }
}
