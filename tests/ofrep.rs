//! OpenFeature's remote evaluation protocol against the real server: resolutions, OFREP's
//! error codes, bulk evaluation with ETags, evaluations that write nothing, and the real
//! OpenFeature Python SDK with its OFREP provider.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::path::Path;

use common::fixture::Fixture;
use common::server::client;
use reqwest::Method;
use serde_json::{Value, json};

/// [`Fixture::flagsmith_like`] with `toggle` (no value), `ratio` (0.5) and `limit` (10), and
/// an identity override of `banner` for `vip`.
async fn fixture() -> Fixture {
    let f = Fixture::flagsmith_like(vec![
        json!({"name": "toggle", "default_enabled": true}),
        json!({"name": "ratio", "initial_value": 0.5, "default_enabled": true}),
        json!({"name": "limit", "initial_value": 10, "default_enabled": true}),
    ])
    .await;
    let (status, _) = f
        .admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/identities/vip/overrides/1",
            Some(json!({"enabled": true, "value": "vip banner"})),
        )
        .await;
    assert_eq!(status, 200);
    f
}

/// A POST with the key as `Authorization: Bearer`; `body` is sent as it is.
async fn post(
    f: &Fixture,
    path: &str,
    key: &str,
    body: &str,
    extra: &[(&str, &str)],
) -> (u16, Value, reqwest::header::HeaderMap) {
    let mut request = client()
        .post(f.server.url(path))
        .header("Content-Type", "application/json")
        .body(body.to_owned());
    if !key.is_empty() {
        request = request.header("Authorization", format!("Bearer {key}"));
    }
    for (name, value) in extra {
        request = request.header(*name, *value);
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

async fn flag(f: &Fixture, name: &str, key: &str, context: Value) -> (u16, Value) {
    let (status, body, _) = post(
        f,
        &format!("/ofrep/v1/evaluate/flags/{name}"),
        key,
        &json!({ "context": context }).to_string(),
        &[],
    )
    .await;
    (status, body)
}

#[tokio::test]
async fn flags_resolve_as_flagsmith_evaluates_them() {
    let f = fixture().await;
    let key = f.client_key.clone();
    let (status, banner) = flag(&f, "banner", &key, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(
        banner,
        json!({"key": "banner", "value": "hello", "reason": "STATIC", "variant": null,
               "metadata": {"enabled": true, "flagsmithReason": "DEFAULT", "featureId": 1}})
    );
    let (_, pro) = flag(
        &f,
        "banner",
        &key,
        json!({"targetingKey": "alice", "plan": "pro"}),
    )
    .await;
    assert_eq!(
        (&pro["value"], &pro["reason"]),
        (&json!("pro banner"), &json!("TARGETING_MATCH"))
    );
    assert_eq!(
        pro["metadata"]["flagsmithReason"],
        "TARGETING_MATCH; segment=pros"
    );
    let (_, vip) = flag(&f, "banner", &key, json!({"targetingKey": "vip"})).await;
    assert_eq!(
        (&vip["value"], &vip["reason"]),
        (&json!("vip banner"), &json!("TARGETING_MATCH"))
    );
    let (_, off) = flag(&f, "off", &key, json!({})).await;
    assert_eq!(
        (&off["value"], &off["reason"], &off["metadata"]["enabled"]),
        (&json!(true), &json!("DISABLED"), &json!(false))
    );
    let (_, toggle) = flag(&f, "toggle", &key, json!({})).await;
    assert_eq!(toggle["value"], true, "a flag without a value is its state");
    // Flagsmith keeps no floats: a float value is stored, served and resolved as text.
    let (_, ratio) = flag(&f, "ratio", &key, json!({})).await;
    assert_eq!(ratio["value"], "0.5");
    let (_, limit) = flag(&f, "limit", &key, json!({})).await;
    assert_eq!(limit["value"], 10);

    // A split gives the same variant /identities/ gives the same identifier.
    for user in ["u1", "u2", "u3", "u4", "u5", "u6"] {
        let (_, theme) = flag(&f, "theme", &key, json!({"targetingKey": user})).await;
        let identify: Value = client()
            .post(f.server.url("/api/v1/identities/"))
            .header("X-Environment-Key", &key)
            .json(&json!({"identifier": user, "transient": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let served = identify["flags"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["feature"]["name"] == "theme")
            .unwrap();
        assert_eq!(theme["value"], served["feature_state_value"], "{user}");
        assert_eq!(theme["reason"], "SPLIT", "{user}");
        assert!(theme["variant"].is_string(), "{theme}");
    }

    // Server-key-only features exist only for server keys.
    let (status, hidden) = flag(&f, "secret", &key, json!({})).await;
    assert_eq!(status, 404);
    assert_eq!(
        (&hidden["key"], &hidden["errorCode"]),
        (&json!("secret"), &json!("FLAG_NOT_FOUND"))
    );
    let (status, secret) = flag(&f, "secret", &f.server_key, json!({})).await;
    assert_eq!((status, &secret["value"]), (200, &json!(42)));
}

#[tokio::test]
async fn bad_requests_get_ofreps_error_codes() {
    let f = fixture().await;
    let key = f.client_key.clone();
    let path = "/ofrep/v1/evaluate/flags/banner";
    for (body, status, code) in [
        ("not json", 400, "PARSE_ERROR"),
        ("[1, 2]", 400, "PARSE_ERROR"),
        (r#"{"context": "alice"}"#, 400, "INVALID_CONTEXT"),
        (
            r#"{"context": {"targetingKey": 7}}"#,
            400,
            "INVALID_CONTEXT",
        ),
        (
            r#"{"context": {"targetingKey": "a", "tags": ["x", "y"]}}"#,
            400,
            "INVALID_CONTEXT",
        ),
        (
            r#"{"context": {"plan": "pro"}}"#,
            400,
            "TARGETING_KEY_MISSING",
        ),
    ] {
        let (answer, error, headers) = post(&f, path, &key, body, &[]).await;
        assert_eq!(
            (answer, error["errorCode"].as_str()),
            (status, Some(code)),
            "{body}"
        );
        assert_eq!(error["key"], "banner", "{body}");
        assert!(
            error["errorDetails"]
                .as_str()
                .is_some_and(|d| !d.is_empty())
        );
        assert_eq!(headers["content-type"], "application/json");
    }
    let (status, error, _) = post(&f, "/ofrep/v1/evaluate/flags/nothing", &key, "{}", &[]).await;
    assert_eq!(
        (status, &error["errorCode"]),
        (404, &json!("FLAG_NOT_FOUND"))
    );
    // Keys: none is 401, an unknown one 403; OFREP's and Flagsmith's headers all work.
    let (status, _, _) = post(&f, path, "", "{}", &[]).await;
    assert_eq!(status, 401);
    let (status, _, _) = post(&f, path, "nonsense", "{}", &[]).await;
    assert_eq!(status, 403);
    for header in ["x-api-key", "x-environment-key"] {
        let (status, body, _) = post(&f, path, "", "{}", &[(header, &key)]).await;
        assert_eq!((status, &body["value"]), (200, &json!("hello")), "{header}");
    }
    // Bulk errors carry no key.
    let (status, error, _) = post(&f, "/ofrep/v1/evaluate/flags", &key, "{", &[]).await;
    assert_eq!(status, 400);
    assert_eq!(
        error,
        json!({"errorCode": "PARSE_ERROR", "errorDetails": error["errorDetails"]})
    );
}

#[tokio::test]
async fn bulk_evaluation_revalidates_with_an_etag() {
    let f = fixture().await;
    let context = json!({"context": {"targetingKey": "alice", "plan": "pro"}}).to_string();
    let (status, bulk, headers) =
        post(&f, "/ofrep/v1/evaluate/flags", &f.client_key, &context, &[]).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = bulk["flags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["banner", "theme", "off", "toggle", "ratio", "limit"],
        "the client key's flags"
    );
    assert_eq!(bulk["flags"][0]["value"], "pro banner");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, again) = post(
        &f,
        "/ofrep/v1/evaluate/flags",
        &f.client_key,
        &context,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, 304);
    assert_eq!(again["etag"], etag.as_str());
    // Another context, another key or a change: another answer.
    let other = json!({"context": {"targetingKey": "alice", "plan": "free"}}).to_string();
    let (status, _, _) = post(
        &f,
        "/ofrep/v1/evaluate/flags",
        &f.client_key,
        &other,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, 200);
    let (status, bulk, _) = post(
        &f,
        "/ofrep/v1/evaluate/flags",
        &f.server_key,
        &context,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bulk["flags"].as_array().unwrap().len(), 7);
    let (status, _) = f
        .admin
        .call(
            Method::PATCH,
            "/admin/v1/environments/1/features/7/state",
            Some(json!({"value": 11})),
        )
        .await;
    assert_eq!(status, 200);
    let (status, bulk, _) = post(
        &f,
        "/ofrep/v1/evaluate/flags",
        &f.client_key,
        &context,
        &[("if-none-match", &etag)],
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(bulk["flags"][5]["value"], 11);
}

#[tokio::test]
async fn evaluations_use_stored_traits_and_write_nothing() {
    let f = fixture().await;
    let key = f.client_key.clone();
    // carol is stored with plan = pro.
    let response = client()
        .post(f.server.url("/api/v1/identities/"))
        .header("X-Environment-Key", &key)
        .json(&json!({"identifier": "carol", "traits": [{"trait_key": "plan", "trait_value": "pro"}]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let (_, stored) = flag(&f, "banner", &key, json!({"targetingKey": "carol"})).await;
    assert_eq!(stored["value"], "pro banner");
    let (_, overridden) = flag(
        &f,
        "banner",
        &key,
        json!({"targetingKey": "carol", "plan": "free"}),
    )
    .await;
    assert_eq!(overridden["value"], "hello", "the context's traits win");
    let (_, removed) = flag(
        &f,
        "banner",
        &key,
        json!({"targetingKey": "carol", "plan": null}),
    )
    .await;
    assert_eq!(removed["value"], "hello", "null hides a stored trait");
    for name in ["banner", "theme"] {
        flag(
            &f,
            name,
            &key,
            json!({"targetingKey": "dave", "plan": "pro"}),
        )
        .await;
    }
    let (status, _, _) = post(
        &f,
        "/ofrep/v1/evaluate/flags",
        &key,
        &json!({"context": {"targetingKey": "erin", "plan": "pro"}}).to_string(),
        &[],
    )
    .await;
    assert_eq!(status, 200);
    // Nothing was written: carol keeps plan = pro, dave and erin were never stored.
    let (_, again) = flag(&f, "banner", &key, json!({"targetingKey": "carol"})).await;
    assert_eq!(again["value"], "pro banner");
    let identities = f.admin.get("/admin/v1/environments/1/identities").await;
    let stored: Vec<&str> = identities["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect();
    assert_eq!(stored, ["carol"]);
}

#[tokio::test]
async fn the_openfeature_python_provider_evaluates_through_ofrep() {
    let Some(python) = std::env::var_os("BURGEE_SDK_PYTHON").filter(|p| Path::new(p).exists())
    else {
        common::skip_or_fail("BURGEE_SDK_PYTHON is not set (scripts/test-all.sh installs it)");
        return;
    };
    let f = fixture().await;
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("sdk-tests/python/ofrep.py");
    let base = f.server.url("/");
    let key = f.client_key.clone();
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(python)
            .arg(script)
            .arg(base)
            .arg(key)
            .output()
    })
    .await
    .unwrap()
    .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let expect = |i: usize, value: Value, reason: &str, error: Value| {
        let r = &results[i];
        assert_eq!(
            (&r["value"], r["reason"].as_str(), &r["error_code"]),
            (&value, Some(reason), &error),
            "{r}"
        );
    };
    assert_eq!(results.len(), 11);
    expect(0, json!("hello"), "STATIC", Value::Null);
    expect(1, json!("pro banner"), "TARGETING_MATCH", Value::Null);
    expect(2, json!("hello"), "STATIC", Value::Null);
    expect(3, json!(true), "STATIC", Value::Null);
    expect(4, json!(true), "DISABLED", Value::Null);
    assert_eq!(results[4]["metadata"]["enabled"], false);
    expect(5, json!(0.0), "ERROR", json!("TYPE_MISMATCH"));
    expect(6, json!(10), "STATIC", Value::Null);
    assert_eq!(results[7]["reason"], "SPLIT");
    assert!(["light", "dark"].contains(&results[7]["value"].as_str().unwrap()));
    expect(8, json!("fallback"), "ERROR", json!("FLAG_NOT_FOUND"));
    expect(9, json!(false), "ERROR", json!("TYPE_MISMATCH"));
    expect(
        10,
        json!("default"),
        "ERROR",
        json!("TARGETING_KEY_MISSING"),
    );
}
