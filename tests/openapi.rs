//! The OpenAPI document and the router agree: every route declared in `src/api` is
//! documented, and every documented operation is served (with that method).

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::server::{Server, client};
use serde_json::Value;

/// Without the trailing slash, and a catch-all `{*name}` written as OpenAPI's `{name}`.
fn normalise(path: &str) -> String {
    path.trim_end_matches('/').replace("{*", "{")
}

/// Route paths declared in the router's source.
fn declared_routes() -> BTreeSet<String> {
    let mut routes = BTreeSet::new();
    let mut stack = vec![Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.file_name().unwrap() == "openapi.rs" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            for piece in text.split('"').skip(1).step_by(2) {
                if [
                    "/admin/v1",
                    "/api/v1",
                    "/health",
                    "/metrics",
                    "/openapi",
                    "/sse/",
                    "/ofrep/",
                ]
                .iter()
                .any(|p| piece.starts_with(p))
                {
                    routes.insert(normalise(piece));
                }
            }
        }
    }
    routes
}

#[tokio::test]
async fn every_route_is_documented_and_every_operation_served() {
    let server = Server::start();
    let document: Value = client()
        .get(server.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(document["openapi"], "3.1.0");
    let paths = document["paths"].as_object().unwrap();
    let documented: BTreeSet<String> = paths.keys().map(|p| normalise(p)).collect();
    let declared = declared_routes();
    assert!(declared.len() > 25, "found {} routes", declared.len());
    let undocumented: Vec<_> = declared.difference(&documented).collect();
    assert!(
        undocumented.is_empty(),
        "routes missing from the OpenAPI document: {undocumented:?}"
    );

    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            let concrete = path
                .replace("{id}", "1")
                .replace("{feature_id}", "1")
                .replace("{segment_id}", "1")
                .replace("{identifier}", "x")
                .replace("{key}", "unknown-key");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Without credentials: a served admin or OFREP route answers 401, an SDK route 403.
            let status = client()
                .request(method.clone(), server.url(&concrete))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let public = burgee::api::auth::routes::need(method.as_str(), path)
                == Some(burgee::api::auth::routes::Need::Public);
            if public {
                // Served without credentials: an empty request is refused as such.
                assert!(
                    [400, 401, 415].contains(&status),
                    "{method} {path}: {status}"
                );
                continue;
            }
            let expected = if path.starts_with("/admin/") || path.starts_with("/ofrep/") {
                401
            } else if path.starts_with("/api/") || path.starts_with("/sse/") {
                403
            } else {
                200
            };
            assert_eq!(status, expected, "{method} {path}");
        }
    }
}

/// The route table that declares each admin route's permission lists exactly the documented
/// admin operations: with the test above, no served route lacks a declared permission.
#[test]
fn every_admin_operation_declares_its_permission() {
    let document = burgee::api::openapi::document();
    let mut documented = BTreeSet::new();
    for (path, item) in document["paths"].as_object().unwrap() {
        if !path.starts_with("/admin/") {
            continue;
        }
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let declared: BTreeSet<(String, String)> = burgee::api::auth::routes::ROUTES
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(
        declared.len(),
        burgee::api::auth::routes::ROUTES.len(),
        "a route is declared twice"
    );
    assert_eq!(documented, declared);
}
