//! The Flagsmith-compatible SDK API against the real server: paths, status codes, bodies,
//! settings and Flagsmith's answers to bad input.

#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)] // test helpers fail loudly

mod common;

use common::fixture::Fixture;
use common::server::client;
use reqwest::Method;
use serde_json::{Value, json};

/// See [`Fixture::flagsmith_like`].
async fn fixture() -> Fixture {
    Fixture::flagsmith_like(Vec::new()).await
}

async fn sdk(
    f: &Fixture,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = client()
        .request(method, f.server.url(path))
        .header("X-Environment-Key", key);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        headers,
    )
}

fn names(flags: &Value) -> Vec<&str> {
    flags
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["feature"]["name"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn environment_flags_follow_flagsmith() {
    let f = fixture().await;
    for path in ["/api/v1/flags/", "/api/v1/flags"] {
        let (status, flags, headers) = sdk(&f, Method::GET, path, &f.client_key, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(
            names(&flags),
            ["banner", "theme", "off"],
            "client keys never see server-only features"
        );
        assert!(headers.contains_key("x-flagsmith-document-updated-at"));
        let banner = &flags[0];
        assert_eq!(banner["feature_state_value"], "hello");
        assert_eq!(banner["enabled"], true);
        assert_eq!(banner["feature"]["type"], "STANDARD");
        assert_eq!(banner["identity"], Value::Null);
        assert_eq!(banner["feature_segment"], Value::Null);
    }
    let (_, flags, _) = sdk(&f, Method::GET, "/api/v1/flags/", &f.server_key, None).await;
    assert_eq!(names(&flags), ["banner", "secret", "theme", "off"]);
    assert_eq!(flags[1]["feature_state_value"], 42);
    let (status, one, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/flags/?feature=theme",
        &f.client_key,
        None,
    )
    .await;
    assert_eq!(
        (status, one["feature"]["name"].as_str()),
        (200, Some("theme"))
    );
    let (status, body, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/flags/?feature=nope",
        &f.client_key,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (404, json!({"detail": "Given feature not found"}))
    );
    let (status, _, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/flags/?feature=secret",
        &f.client_key,
        None,
    )
    .await;
    assert_eq!(status, 404, "hidden from client keys");
}

#[tokio::test]
async fn key_problems_are_403_with_flagsmiths_words() {
    let f = fixture().await;
    let response = client()
        .get(f.server.url("/api/v1/flags/"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"detail": "Invalid or missing Environment key"})
    );
    let (status, body, _) = sdk(&f, Method::GET, "/api/v1/flags/", "wrong-key", None).await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Invalid or missing Environment Key"}))
    );
    let (status, body, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/environment-document/",
        &f.client_key,
        None,
    )
    .await;
    assert_eq!(
        (status, body),
        (403, json!({"detail": "Invalid or missing Environment key"})),
        "documents need a server key"
    );
    // A revoked server key stops working at once.
    let keys = f.admin.get("/admin/v1/environments/1/server-keys").await;
    let id = keys["items"][0]["id"].as_u64().unwrap();
    let (status, _) = f
        .admin
        .call(Method::DELETE, &format!("/admin/v1/server-keys/{id}"), None)
        .await;
    assert_eq!(status, 204);
    let (status, _, _) = sdk(&f, Method::GET, "/api/v1/flags/", &f.server_key, None).await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn hide_disabled_flags_and_sensitive_data() {
    let f = fixture().await;
    let (status, _) = f
        .admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1",
            Some(json!({"settings": {"hide_disabled_flags": true, "hide_sensitive_data": true}})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, flags, _) = sdk(&f, Method::GET, "/api/v1/flags/", &f.client_key, None).await;
    assert_eq!(names(&flags), ["banner", "theme"], "disabled flags hidden");
    assert_eq!(flags[0]["id"], Value::Null);
    assert_eq!(flags[0]["environment"], Value::Null);
    assert_eq!(flags[0]["feature"]["created_date"], Value::Null);
    let (_, identity, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.client_key,
        Some(json!({"identifier": "bob", "traits": [{"trait_key": "plan", "trait_value": "pro"}]})),
    )
    .await;
    assert_eq!(identity["traits"], json!([]), "traits hidden");
    assert_eq!(identity["flags"][0]["feature_state_value"], "pro banner");
}

#[tokio::test]
async fn identify_persists_updates_and_deletes_traits() {
    let f = fixture().await;
    let identify = |body: Value| {
        sdk(
            &f,
            Method::POST,
            "/api/v1/identities/",
            &f.client_key,
            Some(body),
        )
    };
    let (status, body, _) = identify(json!({"identifier": "alice", "traits": [
        {"trait_key": "plan", "trait_value": "pro"}, {"trait_key": "age", "trait_value": 30}]}))
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["identifier"], "alice");
    let banner = body["flags"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["feature"]["name"] == "banner")
        .unwrap();
    assert_eq!(banner["feature_state_value"], "pro banner");
    assert!(
        banner["feature_segment"].is_u64(),
        "a segment override names its state"
    );
    // Stored: a call without traits still sees them.
    let (_, body, _) = identify(json!({"identifier": "alice", "traits": []})).await;
    assert_eq!(body["traits"].as_array().unwrap().len(), 2);
    // Null deletes; the override no longer applies.
    let (_, body, _) = identify(
        json!({"identifier": "alice", "traits": [{"trait_key": "plan", "trait_value": null}]}),
    )
    .await;
    assert_eq!(
        body["traits"],
        json!([{"id": null, "trait_key": "age", "trait_value": 30, "transient": false}])
    );
    assert_eq!(body["flags"][0]["feature_state_value"], "hello");
    let stored = f
        .admin
        .get("/admin/v1/environments/1/identities/alice")
        .await;
    assert_eq!(stored["traits"], json!({"age": 30}));
}

#[tokio::test]
async fn transient_identities_and_traits_are_not_stored() {
    let f = fixture().await;
    let (_, body, _) = sdk(&f, Method::POST, "/api/v1/identities/", &f.client_key,
        Some(json!({"identifier": "ghost", "transient": true, "traits": [{"trait_key": "plan", "trait_value": "pro"}]}))).await;
    assert_eq!(
        body["flags"][0]["feature_state_value"], "pro banner",
        "transient traits still evaluate"
    );
    assert_eq!(body["traits"][0]["transient"], true);
    let (status, _) = f
        .admin
        .call(
            Method::GET,
            "/admin/v1/environments/1/identities/ghost",
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (_, body, _) = sdk(&f, Method::POST, "/api/v1/identities/", &f.client_key,
        Some(json!({"identifier": "carol", "traits": [{"trait_key": "plan", "trait_value": "pro", "transient": true}, {"trait_key": "x", "trait_value": 1}]}))).await;
    assert_eq!(body["flags"][0]["feature_state_value"], "pro banner");
    let stored = f
        .admin
        .get("/admin/v1/environments/1/identities/carol")
        .await;
    assert_eq!(
        stored["traits"],
        json!({"x": 1}),
        "only the non-transient trait is stored"
    );
    // No identifier: a transient identity named by the hash of its traits.
    let (status, body, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.client_key,
        Some(json!({"traits": [{"trait_key": "plan", "trait_value": "pro"}]})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(body["identifier"].as_str().unwrap().len(), 64);
    let listed = f.admin.get("/admin/v1/environments/1/identities").await;
    let identifiers: Vec<&str> = listed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(identifiers, ["carol"]);
}

#[tokio::test]
async fn client_traits_can_be_refused() {
    let f = fixture().await;
    f.admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1",
            Some(json!({"settings": {"allow_client_traits": false}})),
        )
        .await;
    let body =
        json!({"identifier": "dave", "traits": [{"trait_key": "plan", "trait_value": "pro"}]});
    let (_, result, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.client_key,
        Some(body.clone()),
    )
    .await;
    assert_eq!(
        result["traits"],
        json!([]),
        "silently dropped for client keys"
    );
    assert_eq!(result["flags"][0]["feature_state_value"], "hello");
    let (_, result, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.server_key,
        Some(body),
    )
    .await;
    assert_eq!(
        result["flags"][0]["feature_state_value"], "pro banner",
        "server keys may set traits"
    );
}

#[tokio::test]
async fn identify_bad_input_gets_flagsmiths_400s() {
    let f = fixture().await;
    let cases = [
        (
            json!({"identifier": "x", "traits": [{"trait_key": "k", "trait_value": "v".repeat(2001)}]}),
            "traits",
        ),
        (
            json!({"identifier": "x", "traits": [{"trait_value": 1}]}),
            "traits",
        ),
        (
            json!({"identifier": "x", "traits": [{"trait_key": "k".repeat(201), "trait_value": 1}]}),
            "traits",
        ),
        (json!({"identifier": 5}), "identifier"),
        (json!({"identifier": "x".repeat(2001)}), "identifier"),
        (json!({"identifier": "x", "traits": {"k": 1}}), "traits"),
        (json!(["not", "an", "object"]), "non_field_errors"),
    ];
    for (body, field) in cases {
        let (status, answer, _) = sdk(
            &f,
            Method::POST,
            "/api/v1/identities/",
            &f.client_key,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(answer.get(field).is_some(), "{body} → {answer}");
    }
    let listed = f.admin.get("/admin/v1/environments/1/identities").await;
    assert_eq!(listed["items"], json!([]), "nothing was stored");
    let response = client()
        .post(f.server.url("/api/v1/identities/"))
        .header("X-Environment-Key", &f.client_key)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
}

#[tokio::test]
async fn get_identities_quirks() {
    let f = fixture().await;
    let (status, body, _) = sdk(&f, Method::GET, "/api/v1/identities/", &f.client_key, None).await;
    assert_eq!(
        (status, body),
        (200, json!({"detail": "Missing identifier"}))
    );
    let (status, body, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/identities/?identifier=erin&feature=theme",
        &f.client_key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        body["variant"] == "dark" || body["variant"] == "control",
        "{body}"
    );
    let (status, _, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/identities/?identifier=erin&feature=nope",
        &f.client_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (_, _, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/identities/?identifier=frank&transient=false",
        &f.client_key,
        None,
    )
    .await;
    let (status, _) = f
        .admin
        .call(
            Method::GET,
            "/admin/v1/environments/1/identities/frank",
            None,
        )
        .await;
    assert_eq!(
        status, 404,
        "any transient value means transient, as in Flagsmith"
    );
    let (status, _) = f
        .admin
        .call(
            Method::GET,
            "/admin/v1/environments/1/identities/erin",
            None,
        )
        .await;
    assert_eq!(status, 200, "GET creates the identity");
}

#[tokio::test]
async fn environment_document_and_conditional_get() {
    let f = fixture().await;
    let (status, document, headers) = sdk(
        &f,
        Method::GET,
        "/api/v1/environment-document",
        &f.server_key,
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(document["api_key"], f.client_key.as_str());
    assert_eq!(
        document["project"]["segments"][0]["feature_states"][0]["feature_segment"],
        json!({"priority": 0})
    );
    assert_eq!(
        document["project"]["server_key_only_feature_ids"],
        json!([2])
    );
    let theme = &document["feature_states"][2];
    assert_eq!(
        theme["multivariate_feature_state_values"][0]["percentage_allocation"],
        50
    );
    let last_modified = headers
        .get("last-modified")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let response = client()
        .get(f.server.url("/api/v1/environment-document/"))
        .header("X-Environment-Key", &f.server_key)
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 304);
    // A change moves the document on.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    f.admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/1/state",
            Some(json!({"value": "changed"})),
        )
        .await;
    let response = client()
        .get(f.server.url("/api/v1/environment-document/"))
        .header("X-Environment-Key", &f.server_key)
        .header("If-Modified-Since", &last_modified)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
}

#[tokio::test]
async fn served_identities_match_local_evaluation_of_the_document() {
    let f = fixture().await;
    let (_, document, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/environment-document/",
        &f.server_key,
        None,
    )
    .await;
    let document: burgee::flagsmith::document::EnvironmentDocument =
        serde_json::from_value(document).unwrap();
    let compiled = burgee::engine::CompiledEnvironment::compile(&document.to_environment());
    for i in 0..40 {
        let identifier = format!("user-{i}");
        let plan = if i % 3 == 0 { "pro" } else { "free" };
        let (_, served, _) = sdk(&f, Method::POST, "/api/v1/identities/", &f.server_key,
            Some(json!({"identifier": identifier, "traits": [{"trait_key": "plan", "trait_value": plan}]}))).await;
        let mut traits = burgee::model::Traits::new();
        traits.insert("plan".into(), burgee::model::Scalar::String(plan.into()));
        let identity = burgee::model::Identity {
            identifier: identifier.clone(),
            key: None,
            traits,
        };
        let local = compiled.evaluate(Some(&identity)).unwrap();
        for flag in served["flags"].as_array().unwrap() {
            let name = flag["feature"]["name"].as_str().unwrap();
            let mine = local.flags.iter().find(|l| l.feature.name == name).unwrap();
            assert_eq!(flag["enabled"], mine.enabled, "{identifier} {name}");
            assert_eq!(
                flag["feature_state_value"],
                mine.value.to_json(),
                "{identifier} {name}"
            );
            assert_eq!(flag["variant"], json!(mine.variant), "{identifier} {name}");
        }
    }
}

#[tokio::test]
async fn analytics_are_validated_like_flagsmith() {
    let f = fixture().await;
    let (status, body, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/analytics/flags/",
        &f.client_key,
        Some(json!([1, 2])),
    )
    .await;
    assert_eq!(
        (status, body),
        (
            400,
            json!({"non_field_errors": ["Expected a JSON object."]})
        )
    );
    let (status, _, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/analytics/flags/",
        &f.client_key,
        Some(json!({"banner": 3, "nope": 1, "theme": "x"})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn cors_allows_browser_sdks() {
    let f = fixture().await;
    let response = client()
        .request(Method::OPTIONS, f.server.url("/api/v1/flags/"))
        .header("Origin", "https://app.example.com")
        .header("Access-Control-Request-Method", "GET")
        .header("Access-Control-Request-Headers", "x-environment-key")
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success());
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let allowed = response.headers()["access-control-allow-headers"]
        .to_str()
        .unwrap();
    for header in [
        "x-environment-key",
        "if-none-match",
        "authorization",
        "last-event-id",
    ] {
        assert!(allowed.contains(header), "{allowed}");
    }
    // A plain call from a page may read the headers SDKs need.
    let response = client()
        .get(f.server.url("/api/v1/flags/"))
        .header("Origin", "https://app.example.com")
        .header("X-Environment-Key", &f.client_key)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["access-control-allow-origin"], "*");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap();
    assert!(exposed.contains("etag") && exposed.contains("x-flagsmith-document-updated-at"));
}

#[tokio::test]
async fn identity_overrides_can_be_kept_out_of_local_evaluation() {
    let f = fixture().await;
    let (status, _) = f
        .admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/vip/overrides/1",
            Some(json!({"enabled": true, "value": "vip"})),
        )
        .await;
    assert_eq!(status, 200);
    let (_, document, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/environment-document/",
        &f.server_key,
        None,
    )
    .await;
    assert_eq!(document["identity_overrides"][0]["identifier"], "vip");
    assert_eq!(
        document["identity_overrides"][0]["identity_features"][0]["feature_state_value"],
        "vip"
    );
    f.admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1",
            Some(json!({"settings": {"use_identity_overrides_in_local_eval": false}})),
        )
        .await;
    let (_, document, _) = sdk(
        &f,
        Method::GET,
        "/api/v1/environment-document/",
        &f.server_key,
        None,
    )
    .await;
    assert_eq!(document["identity_overrides"], json!([]));
    assert_eq!(document["use_identity_overrides_in_local_eval"], false);
    // Remote evaluation still applies the override.
    let (_, flags, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.client_key,
        Some(json!({"identifier": "vip"})),
    )
    .await;
    assert_eq!(flags["flags"][0]["feature_state_value"], "vip");
}

#[tokio::test]
async fn a_trait_too_large_for_a_condition_is_the_callers_error() {
    let f = fixture().await;
    f.admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "even", "rules": [{"type": "ALL", "conditions": [{"property": "n", "operator": "MODULO", "value": "2|0"}]}]}),
        )
        .await;
    // A numeric string of 400 digits is an integer beyond any float: Flagsmith's engine raises.
    let body = json!({"identifier": "big", "transient": true, "traits": [{"trait_key": "n", "trait_value": "9".repeat(400)}]});
    let (status, answer, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.client_key,
        Some(body),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["traits"][0].as_str().unwrap().contains("too large"),
        "{answer}"
    );
    let (status, _, _) = sdk(
        &f,
        Method::POST,
        "/api/v1/identities/",
        &f.client_key,
        Some(json!({"identifier": "small", "traits": [{"trait_key": "n", "trait_value": 4}]})),
    )
    .await;
    assert_eq!(status, 200);
}
