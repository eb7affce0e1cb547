//! `cargo xtask routes`: the text that the functions' route tables ([`FUNCTIONS`]) decide in
//! files other tools read — the cargo-lambda router in Cargo.toml and each HTTP function's
//! HttpApi events in template.yaml. Everything else in both files stays hand-written;
//! `tests/tests/routes.rs` fails when the committed files differ from what this writes.

use crate::{workspace_root, FUNCTIONS};
use anyhow::{bail, Context as _, Result};
use wardline_shared::http::{Function, Route};

/// What regenerates both files; failures name it.
pub const COMMAND: &str = "cargo xtask routes";

/// The table header of the cargo-lambda router; the section runs to the next table or the end.
const ROUTER: &str = "[workspace.metadata.lambda.watch.router]";

/// Cargo.toml with its `[workspace.metadata.lambda.watch.router]` section written from the
/// route tables: one key per path, in the order the functions declare them.
pub fn cargo_toml(manifest: &str) -> Result<String> {
    let mut paths: Vec<(&str, Vec<(&Route, &Function)>)> = Vec::new();
    for function in FUNCTIONS {
        for route in function.routes {
            match paths.iter_mut().find(|(path, _)| *path == route.path) {
                Some((_, targets)) => targets.push((route, function)),
                None => paths.push((route.path, vec![(route, function)])),
            }
        }
    }
    let target = |(route, function): &(&Route, &Function)| {
        format!(
            "{{ method = \"{}\", function = \"{}\" }}",
            route.method, function.name
        )
    };
    let mut section = format!("{ROUTER}\n");
    for (path, targets) in &paths {
        if let [one] = targets.as_slice() {
            section.push_str(&format!("\"{path}\" = [{}]\n", target(one)));
        } else {
            section.push_str(&format!("\"{path}\" = [\n"));
            for each in targets {
                section.push_str(&format!("  {},\n", target(each)));
            }
            section.push_str("]\n");
        }
    }

    let start = manifest
        .find(&format!("\n{ROUTER}\n"))
        .map(|at| at + 1)
        .with_context(|| format!("Cargo.toml has no {ROUTER} section"))?;
    let rest = &manifest[start + ROUTER.len() + 1..];
    let end = rest
        .find("\n[")
        .map_or(manifest.len(), |at| start + ROUTER.len() + 1 + at + 1);
    Ok(format!(
        "{}{section}{}",
        &manifest[..start],
        &manifest[end..]
    ))
}

fn begin_marker(function: &str) -> String {
    format!("# BEGIN routes of {function}, written by `{COMMAND}`")
}

fn end_marker(function: &str) -> String {
    format!("# END routes of {function}")
}

/// template.yaml with each HTTP function's `Events` (between its BEGIN and END comments)
/// written from its route table: an HttpApi event per route, named by the route, with the
/// API's default authorizer (the identity provider's JWT) on staff routes and none on the
/// others, which authenticate in the function.
pub fn template_yaml(template: &str) -> Result<String> {
    let mut text = template.to_owned();
    for function in FUNCTIONS {
        let (begin, end) = (begin_marker(function.name), end_marker(function.name));
        let missing = || {
            format!(
                "template.yaml has no `{begin}` … `{end}` comments in {}'s Properties",
                function.name
            )
        };
        let begin_at = text.find(&begin).with_context(missing)?;
        let line_start = text[..begin_at].rfind('\n').map_or(0, |at| at + 1);
        let indent = &text[line_start..begin_at];
        if !indent.bytes().all(|b| b == b' ') {
            bail!("`{begin}` must be alone on its line");
        }
        let body_start = begin_at + begin.len() + 1;
        let end_at = text[body_start..]
            .find(&format!("{indent}{end}\n"))
            .map(|at| body_start + at)
            .with_context(missing)?;
        let events = events(function, indent);
        text.replace_range(body_start..end_at, &events);
    }
    Ok(text)
}

/// The `Events:` mapping of one function, indented by `indent`.
fn events(function: &Function, indent: &str) -> String {
    let mut out = format!("{indent}Events:\n");
    for route in function.routes {
        let lines = [
            format!("  {}:", route.name),
            "    Type: HttpApi".to_owned(),
            "    Properties:".to_owned(),
            "      ApiId: !Ref HttpApi".to_owned(),
            format!("      Path: {}", route.path),
            format!("      Method: {}", route.method),
        ];
        for line in lines {
            out.push_str(&format!("{indent}{line}\n"));
        }
        if !route.access.staff_jwt() {
            out.push_str(&format!(
                "{indent}      Auth:\n{indent}        Authorizer: NONE\n"
            ));
        }
    }
    out
}

/// Regenerates a file's text from its current text.
pub type Generate = fn(&str) -> Result<String>;

/// The two generated files: (name, regenerate).
pub const FILES: &[(&str, Generate)] =
    &[("Cargo.toml", cargo_toml), ("template.yaml", template_yaml)];

/// `cargo xtask routes`: rewrites both files where they differ from the route tables.
pub fn write() -> Result<()> {
    for (name, generate) in FILES {
        let path = workspace_root().join(name);
        let current = std::fs::read_to_string(&path).with_context(|| format!("reading {name}"))?;
        let generated = generate(&current)?;
        if generated == current {
            println!("{name}: up to date");
        } else {
            std::fs::write(&path, generated).with_context(|| format!("writing {name}"))?;
            println!("{name}: rewritten from the route tables");
        }
    }
    Ok(())
}
