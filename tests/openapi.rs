//! The OpenAPI document and the router agree: every route declared in `src/api` is
//! documented, and every documented operation is served (with that method).

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::server::{Server, client};
use serde_json::Value;

fn normalise(path: &str) -> String {
    path.trim_end_matches('/').to_owned()
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
                if ["/admin/v1", "/api/v1", "/health", "/metrics", "/openapi"]
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
                .replace("{identifier}", "x");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            // Without credentials: a served admin route answers 401, an SDK route 403.
            let status = client()
                .request(method.clone(), server.url(&concrete))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            let expected = if path.starts_with("/admin/") {
                401
            } else if path.starts_with("/api/") {
                403
            } else {
                200
            };
            assert_eq!(status, expected, "{method} {path}");
        }
    }
}
