//! The admin API against the real server: CRUD, concurrency, and bad input that gets a
//! clear 4xx and changes nothing.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use common::server::{Admin, Server, client};
use reqwest::Method;
use serde_json::{Value, json};

async fn setup() -> (Server, Admin) {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin
        .post("/admin/v1/projects", json!({"name": "Web"}))
        .await;
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Production"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
    (server, admin)
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"]
        .as_str()
        .unwrap_or_else(|| panic!("not an error body: {body}"))
}

#[tokio::test]
async fn requires_a_valid_token() {
    let (server, _) = setup().await;
    let response = client()
        .get(server.url("/admin/v1/projects"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "unauthorized");
    let response = client()
        .get(server.url("/admin/v1/projects"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
}

#[tokio::test]
async fn projects_environments_features_round_trip() {
    let (_server, admin) = setup().await;
    let projects = admin.get("/admin/v1/projects").await;
    assert_eq!(projects["items"][0]["name"], "Web");
    assert_eq!(projects["next_cursor"], Value::Null);
    let env = admin.get("/admin/v1/environments/1").await;
    assert_eq!(env["name"], "Production");
    assert_eq!(env["client_key"].as_str().unwrap().len(), 22);
    let feature = admin.get("/admin/v1/features/1").await;
    assert_eq!(feature["initial_value"], "hello");
    let states = admin.get("/admin/v1/environments/1/feature-states").await;
    assert_eq!(states["items"].as_array().unwrap().len(), 1);
    // Typed values: integers and booleans keep their type, other numbers become text.
    let (status, state) = admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            Some(json!({"enabled": true, "value": 7})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(state["value"], 7);
    let (_, state) = admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            Some(json!({"value": 1.5})),
        )
        .await;
    assert_eq!(state["value"], "1.5");
    // A second environment gets a state for every feature.
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Staging"}),
        )
        .await;
    assert_eq!(
        admin.get("/admin/v1/environments/2/feature-states").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Delete cascades.
    let (status, _) = admin
        .call(Method::DELETE, "/admin/v1/features/1", None)
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        admin.get("/admin/v1/environments/1/feature-states").await["items"],
        json!([])
    );
    let (status, _) = admin
        .call(Method::DELETE, "/admin/v1/projects/1", None)
        .await;
    assert_eq!(status, 204);
    let (status, body) = admin
        .call(Method::GET, "/admin/v1/environments/1", None)
        .await;
    assert_eq!((status, error_code(&body)), (404, "not_found"));
}

#[tokio::test]
async fn pagination_walks_every_item_once() {
    let (_server, admin) = setup().await;
    for i in 0..7 {
        admin
            .post("/admin/v1/projects", json!({"name": format!("p{i}")}))
            .await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/projects?limit=3&cursor={c}"),
            None => "/admin/v1/projects?limit=3".to_owned(),
        };
        let page = admin.get(&path).await;
        seen.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["id"].as_u64().unwrap()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, (1..=8).collect::<Vec<u64>>());
    let (status, _) = admin
        .call(Method::GET, "/admin/v1/projects?limit=0", None)
        .await;
    assert_eq!(status, 400);
    let (status, _) = admin
        .call(Method::GET, "/admin/v1/projects?cursor=abc", None)
        .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn stale_revisions_conflict() {
    let (server, admin) = setup().await;
    let revision = admin.get("/admin/v1/environments/1").await["revision"]
        .as_u64()
        .unwrap();
    let response = client()
        .patch(server.url("/admin/v1/environments/1/features/1/state"))
        .bearer_auth(common::server::TOKEN)
        .header("If-Match", format!("\"{revision}\""))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let response = client()
        .patch(server.url("/admin/v1/environments/1"))
        .bearer_auth(common::server::TOKEN)
        .header("If-Match", format!("\"{revision}\""))
        .json(&json!({"name": "Prod"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status().as_u16(),
        412,
        "HTTP's Precondition Failed"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "revision_mismatch");
    assert_eq!(body["error"]["details"]["expected"], revision);
    assert_eq!(
        admin.get("/admin/v1/environments/1").await["name"],
        "Production",
        "nothing changed"
    );
}

#[tokio::test]
async fn bad_input_is_refused_and_changes_nothing() {
    let (server, admin) = setup().await;
    let before = admin.get("/admin/v1/environments/1").await["revision"].clone();
    let raw = |method: Method, path: &str, body: &'static str| {
        client()
            .request(method, server.url(path))
            .bearer_auth(common::server::TOKEN)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    for (method, path, body, status, code) in [
        (
            Method::POST,
            "/admin/v1/projects",
            "{not json",
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            "{\"name\": 5}",
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            "{\"name\": \"x\", \"colour\": \"red\"}",
            400,
            "invalid_json",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            "{\"name\": \"   \"}",
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects",
            "{\"name\": \"Web\"}",
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/admin/v1/projects/99/environments",
            "{\"name\": \"x\"}",
            404,
            "not_found",
        ),
        (
            Method::PATCH,
            "/admin/v1/environments/1/features/99/state",
            "{\"enabled\": true}",
            404,
            "not_found",
        ),
        (
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            "{\"value\": [1, 2]}",
            400,
            "invalid_request",
        ),
        (
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            "{\"variants\": [{\"option_id\": 9, \"weight\": 50}]}",
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/features",
            "{\"name\": \"banner\"}",
            409,
            "conflict",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/features",
            "{\"name\": \"mv\", \"options\": [{\"value\": 1, \"default_weight\": 150}]}",
            400,
            "invalid_request",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/segments",
            "{\"name\": \"s\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{\"property\": \"e\", \"operator\": \"REGEX\", \"value\": \"(?<=a)b\"}]}]}",
            400,
            "invalid_rules",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/segments",
            "{\"name\": \"s\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{\"property\": \"n\", \"operator\": \"MODULO\", \"value\": \"0|1\"}]}]}",
            400,
            "invalid_rules",
        ),
        (
            Method::POST,
            "/admin/v1/projects/1/segments",
            "{\"name\": \"s\", \"rules\": [{\"type\": \"SOME\"}]}",
            400,
            "invalid_request",
        ),
        (
            Method::PUT,
            "/admin/v1/environments/1/features/1/segment-overrides/42",
            "{\"enabled\": true}",
            404,
            "not_found",
        ),
    ] {
        let response = raw(method.clone(), path, body).await.unwrap();
        let got = response.status().as_u16();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(
            (got, error_code(&answer)),
            (status, code),
            "{method} {path} {body}: {answer}"
        );
        assert!(!answer["error"]["message"].as_str().unwrap().is_empty());
    }
    let invalid_rules = raw(Method::POST, "/admin/v1/projects/1/segments",
        "{\"name\": \"s\", \"rules\": [{\"type\": \"ALL\", \"conditions\": [{\"property\": \"e\", \"operator\": \"REGEX\", \"value\": \"(?<=a)b\"}]}]}").await.unwrap();
    let answer: Value = invalid_rules.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["path"],
        "rules[0].conditions[0]"
    );
    assert_eq!(
        admin.get("/admin/v1/environments/1").await["revision"],
        before,
        "nothing changed"
    );
    assert_eq!(
        admin.get("/admin/v1/projects").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        admin.get("/admin/v1/projects/1/segments").await["items"],
        json!([])
    );
}

#[tokio::test]
async fn oversize_bodies_are_refused() {
    let (server, _) = setup().await;
    let huge = format!("{{\"name\": \"{}\"}}", "x".repeat(2 << 20));
    let response = client()
        .post(server.url("/admin/v1/projects"))
        .bearer_auth(common::server::TOKEN)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 413);
    let body: Value = response.json().await.unwrap();
    assert_eq!(error_code(&body), "body_too_large");
}

#[tokio::test]
async fn unicode_and_injection_looking_text_is_kept_verbatim() {
    let (_server, admin) = setup().await;
    for name in [
        "Größe 🚀",
        "'; DROP TABLE projects; --",
        "<script>alert(1)</script>",
        "../../etc/passwd",
    ] {
        let project = admin
            .post("/admin/v1/projects", json!({"name": name}))
            .await;
        let id = project["id"].as_u64().unwrap();
        assert_eq!(
            admin.get(&format!("/admin/v1/projects/{id}")).await["name"],
            name
        );
    }
}

#[tokio::test]
async fn segment_overrides_are_ordered() {
    let (_server, admin) = setup().await;
    for name in ["a", "b", "c"] {
        admin
            .post(
                "/admin/v1/projects/1/segments",
                json!({"name": name, "rules": [{"type": "ALL", "conditions": [
            {"property": "x", "operator": "IS_SET", "value": null}]}]}),
            )
            .await;
    }
    for segment in 1..=3 {
        let (status, _) = admin
            .call(
                Method::PUT,
                &format!("/admin/v1/environments/1/features/1/segment-overrides/{segment}"),
                Some(json!({"enabled": true, "value": format!("from {segment}")})),
            )
            .await;
        assert_eq!(status, 200);
    }
    let order = |v: &Value| {
        v["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["segment_id"].as_u64().unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        order(
            &admin
                .get("/admin/v1/environments/1/features/1/segment-overrides")
                .await
        ),
        [1, 2, 3]
    );
    let (_, reordered) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/features/1/segment-overrides",
            Some(json!({"segment_ids": [3, 1, 2]})),
        )
        .await;
    assert_eq!(order(&reordered), [3, 1, 2]);
    let (status, _) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/features/1/segment-overrides",
            Some(json!({"segment_ids": [3, 1]})),
        )
        .await;
    assert_eq!(status, 400);
    // The strongest override wins for an identity in all three segments.
    let document = admin.get("/admin/v1/environments/1/document").await;
    let document: burgee::flagsmith::document::EnvironmentDocument =
        serde_json::from_value(document).unwrap();
    let compiled = burgee::engine::CompiledEnvironment::compile(&document.to_environment());
    let mut traits = burgee::model::Traits::new();
    traits.insert("x".into(), burgee::model::Scalar::Integer(1));
    let identity = burgee::model::Identity {
        identifier: "u".into(),
        key: None,
        traits,
    };
    assert_eq!(
        compiled.evaluate(Some(&identity)).unwrap().flags[0]
            .value
            .to_json(),
        "from 3"
    );
    let (status, _) = admin
        .call(
            Method::DELETE,
            "/admin/v1/environments/1/features/1/segment-overrides/3",
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        order(
            &admin
                .get("/admin/v1/environments/1/features/1/segment-overrides")
                .await
        ),
        [1, 2]
    );
}

#[tokio::test]
async fn identities_overrides_and_gdpr_deletion() {
    let (server, admin) = setup().await;
    let key = admin.get("/admin/v1/environments/1").await["client_key"]
        .as_str()
        .unwrap()
        .to_owned();
    for i in 0..25 {
        let response = client().post(server.url("/api/v1/identities/")).header("X-Environment-Key", &key)
            .json(&json!({"identifier": format!("user-{i:02}"), "traits": [{"trait_key": "n", "trait_value": i}]})).send().await.unwrap();
        assert_eq!(response.status().as_u16(), 200);
    }
    let (status, _) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/user-03/overrides/1",
            Some(json!({"enabled": true, "value": "vip"})),
        )
        .await;
    assert_eq!(status, 200);
    let flags: Value = client()
        .post(server.url("/api/v1/identities/"))
        .header("X-Environment-Key", &key)
        .json(&json!({"identifier": "user-03"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(flags["flags"][0]["feature_state_value"], "vip");
    assert!(flags["flags"][0]["identity"].is_u64());
    let (status, identity) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/user-04/traits",
            Some(json!({"traits": {"n": null, "plan": "pro"}})),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(identity["traits"], json!({"plan": "pro"}));
    let (status, _) = admin
        .call(
            Method::DELETE,
            "/admin/v1/environments/1/identities/user-05",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = admin
        .call(
            Method::GET,
            "/admin/v1/environments/1/identities/user-05",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let page = admin
        .get("/admin/v1/environments/1/identities?limit=10")
        .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[9]["identifier"], "user-10");
    assert!(
        page["next_cursor"].is_string(),
        "an opaque cursor: tests/pagination.rs walks it"
    );
    let (status, deleted) = admin
        .call(Method::DELETE, "/admin/v1/environments/1/identities", None)
        .await;
    assert_eq!((status, deleted["deleted"].as_u64()), (200, Some(24)));
    assert_eq!(
        admin.get("/admin/v1/environments/1/identities").await["items"],
        json!([])
    );
    let document = admin.get("/admin/v1/environments/1/document").await;
    assert_eq!(
        document["identity_overrides"],
        json!([]),
        "overrides go with the identities"
    );
}

#[tokio::test]
async fn errors_outside_the_handlers_are_json_too() {
    let (_server, admin) = setup().await;
    for (method, path, status, code) in [
        (
            Method::GET,
            "/admin/v1/projects/abc",
            400,
            "invalid_request",
        ),
        (Method::GET, "/admin/v1/projects/-1", 400, "invalid_request"),
        (
            Method::GET,
            "/admin/v1/projects?limit=lots",
            400,
            "invalid_request",
        ),
        (
            Method::GET,
            "/admin/v1/projects?colour=red",
            400,
            "invalid_request",
        ),
        (Method::GET, "/admin/v1/nothing-here", 404, "not_found"),
        (Method::PUT, "/admin/v1/projects", 405, "method_not_allowed"),
    ] {
        let (got, body) = admin.call(method.clone(), path, None).await;
        assert_eq!(
            (got, error_code(&body)),
            (status, code),
            "{method} {path}: {body}"
        );
        assert!(!body["error"]["message"].as_str().unwrap().is_empty());
    }
}
