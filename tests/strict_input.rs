//! What a confused user or an attacker sends is refused clearly, changes nothing, and takes no
//! log index: bodies that are not JSON objects or not declared as JSON, integers beyond 64
//! bits, invalid UTF-8 in a query, unreadable names, huge descriptions, names that differ only
//! by case, and malformed `If-Match` headers.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use common::server::{Admin, Server, TOKEN, client, get_json};
use reqwest::Method;
use serde_json::{Value, json};

async fn raw(
    server: &Server,
    method: Method,
    path: &str,
    body: &str,
    content_type: Option<&str>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, server.url(path))
        .bearer_auth(TOKEN)
        .body(body.to_owned());
    if let Some(content_type) = content_type {
        request = request.header("Content-Type", content_type);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn applied_index(server: &Server) -> u64 {
    get_json(server, "/health/readiness").await.1["applied_index"]
        .as_u64()
        .unwrap()
}

/// (method, path, body, content type, expected status, expected code).
type Case = (
    Method,
    &'static str,
    String,
    Option<&'static str>,
    u16,
    &'static str,
);

#[tokio::test]
async fn malformed_admin_bodies_are_refused_before_they_take_an_index() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    admin
        .post("/admin/v1/projects/1/features", json!({"name": "banner"}))
        .await;
    let index = applied_index(&server).await;
    let json = Some("application/json");
    let cases: Vec<Case> = vec![
        // Nested objects given as arrays of their fields (which serde alone would take).
        (
            Method::POST,
            "/admin/v1/projects/1/features",
            r#"{"name": "mv", "type": "MULTIVARIATE", "options": [[null, null]]}"#.into(),
            json,
            400,
            "invalid_json",
        ),
        (
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            r#"{"variants": [[1, 50]]}"#.into(),
            json,
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/segments",
            r#"{"name": "s", "rules": [["ALL", [], []]]}"#.into(),
            json,
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"["Mobile"]"#.into(),
            json,
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#""Mobile""#.into(),
            json,
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"{"name": "Mobile"}"#.into(),
            None,
            415,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"{"name": "Mobile"}"#.into(),
            Some("text/plain"),
            415,
            "unsupported_media_type",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/features",
            r#"{"name": "big", "initial_value": 123456789012345678901234567890}"#.into(),
            json,
            400,
            "number_out_of_range",
        ),
        (
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            r#"{"value": -99999999999999999999}"#.into(),
            json,
            400,
            "number_out_of_range",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"{"name": "Web\r\nFAKE"}"#.into(),
            json,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"{"name": "nul\u0000"}"#.into(),
            json,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"{"name": "\u200b\u200b"}"#.into(),
            json,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            r#"{"name": "evil\u202egnp.exe"}"#.into(),
            json,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/features",
            format!(
                r#"{{"name": "long", "description": "{}"}}"#,
                "x".repeat(2001)
            ),
            json,
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/segments",
            format!(
                r#"{{"name": "long", "description": "{}", "rules": []}}"#,
                "x".repeat(2001)
            ),
            json,
            400,
            "invalid_request",
        ),
    ];
    for (method, path, body, content_type, status, code) in cases {
        let (got, answer) = raw(&server, method.clone(), path, &body, content_type).await;
        assert_eq!(got, status, "{method} {path} {body:.80}: {answer}");
        assert_eq!(answer["error"]["code"], code, "{method} {path}: {answer}");
        assert!(
            answer["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    assert_eq!(
        applied_index(&server).await,
        index,
        "no refusal took a log index"
    );
    let projects = admin.get("/admin/v1/projects").await;
    assert_eq!(projects["items"].as_array().unwrap().len(), 1);
    let features = admin.get("/admin/v1/projects/1/features").await;
    assert_eq!(features["items"].as_array().unwrap().len(), 1);

    // 64-bit integers themselves are kept exactly.
    let exact = admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "max", "initial_value": i64::MAX}),
        )
        .await;
    assert_eq!(exact["initial_value"], i64::MAX.to_string(), "{exact}");
}

#[tokio::test]
async fn names_are_unique_regardless_of_case() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    admin
        .post("/admin/v1/projects/1/features", json!({"name": "banner"}))
        .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "Beta", "rules": []}),
        )
        .await;
    for (path, body) in [
        ("/admin/v1/projects/1/features", json!({"name": "Banner"})),
        (
            "/admin/v1/projects/1/segments",
            json!({"name": "beta", "rules": []}),
        ),
    ] {
        let (status, answer) = admin.call(Method::POST, path, Some(body)).await;
        assert_eq!(status, 409, "{answer}");
        assert_eq!(answer["error"]["code"], "conflict");
    }
}

#[tokio::test]
async fn if_match_follows_http() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin.web_production().await;
    let patch = |if_match: &'static str, name: &'static str| {
        client()
            .patch(server.url("/admin/v1/environments/1"))
            .bearer_auth(TOKEN)
            .header("If-Match", if_match)
            .json(&json!({"name": name}))
            .send()
    };
    assert_eq!(
        patch("*", "Prod").await.unwrap().status(),
        200,
        "* is any current version"
    );
    let response = patch("\"0\"", "Stale").await.unwrap();
    assert_eq!(response.status(), 412);
    let response = patch("yesterday", "Odd").await.unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_if_match");
    assert_eq!(admin.get("/admin/v1/environments/1").await["name"], "Prod");
}

#[tokio::test]
async fn invalid_utf8_in_a_query_is_refused_and_creates_no_identity() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    for path in [
        "/api/v1/identities/?identifier=%FF",
        "/api/v1/flags/?feature=%C3%28",
    ] {
        let response = client()
            .get(server.url(path))
            .header("X-Environment-Key", &key)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{path}");
    }
    let identities = admin.get("/admin/v1/environments/1/identities").await;
    assert_eq!(identities["items"], json!([]));
    let fine = client()
        .get(server.url("/api/v1/identities/?identifier=%C3%BC"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
    let identities = admin.get("/admin/v1/environments/1/identities").await;
    assert_eq!(identities["items"][0]["identifier"], "ü");
}
