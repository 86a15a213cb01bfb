//! Comparing environments with the real binary: two environments created alike are the
//! same; changed defaults, weights and segment overrides show up as exactly those changes,
//! both ways round; environments of two projects compare by feature name; the CLI shows the
//! same by client key and by name; a caller who cannot see one of them is refused.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use reqwest::Method;
use serde_json::{Value, json};

use common::access::{Auth, status_of};
use common::server::{Admin, Server, cli};

/// A GET that must succeed: its body.
async fn fetched(admin: &Admin, path: &str) -> Value {
    let (code, body) = admin.call(Method::GET, path, None).await;
    assert_eq!(code, 200, "{path}: {body}");
    body
}

async fn compare(admin: &Admin, a: u64, b: u64) -> Value {
    fetched(admin, &format!("/admin/v1/environments/{a}/compare/{b}")).await
}

async fn ok(admin: &Admin, method: Method, path: &str, body: Value) -> Value {
    let (code, answer) = admin.call(method, path, Some(body)).await;
    assert!((200..300).contains(&code), "{path}: {code} {answer}");
    answer
}

/// Project 1 gets the multivariate feature `checkout` (option "new" at `weight`) and the
/// segment `beta`: the option's id and the segment's.
async fn checkout_and_beta(admin: &Admin, weight: u32) -> (Value, Value) {
    let checkout = ok(
        admin,
        Method::POST,
        "/admin/v1/projects/1/features",
        json!({"name": "checkout", "type": "MULTIVARIATE", "initial_value": "old",
               "options": [{"value": "new", "default_weight": weight}]}),
    )
    .await;
    let segment = ok(
        admin,
        Method::POST,
        "/admin/v1/projects/1/segments",
        json!({"name": "beta", "rules": [{"type": "ALL", "conditions": [
            {"property": "beta", "operator": "EQUAL", "value": "true"}]}]}),
    )
    .await;
    (checkout["options"][0]["id"].clone(), segment["id"].clone())
}

#[tokio::test]
async fn environments_compare_feature_by_feature() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let production_key = admin.web_production().await;
    let staging = ok(
        &admin,
        Method::POST,
        "/admin/v1/projects/1/environments",
        json!({"name": "Staging"}),
    )
    .await;
    let staging_id = staging["id"].as_u64().unwrap();
    ok(
        &admin,
        Method::POST,
        "/admin/v1/projects/1/features",
        json!({"name": "banner", "initial_value": "hello"}),
    )
    .await;
    let (option_id, segment_id) = checkout_and_beta(&admin, 30).await;

    let same = compare(&admin, 1, staging_id).await;
    assert_eq!(same["same"], true, "{same}");
    assert_eq!(same["features"], json!([]));

    // Staging changes: banner's value and enabled, checkout's weight, a segment override.
    ok(
        &admin,
        Method::PATCH,
        &format!("/admin/v1/environments/{staging_id}/features/1/state"),
        json!({"enabled": true, "value": "hi there"}),
    )
    .await;
    ok(
        &admin,
        Method::PATCH,
        &format!("/admin/v1/environments/{staging_id}/features/2/state"),
        json!({"variants": [{"option_id": option_id, "weight": 50}]}),
    )
    .await;
    ok(
        &admin,
        Method::PUT,
        &format!("/admin/v1/environments/{staging_id}/features/1/segment-overrides/{segment_id}"),
        json!({"enabled": true, "value": "for beta"}),
    )
    .await;
    let diff = compare(&admin, 1, staging_id).await;
    assert_eq!(diff["same"], false);
    assert_eq!(diff["from"]["name"], "Production");
    assert_eq!(diff["to"]["name"], "Staging");
    let features = diff["features"].as_array().unwrap();
    assert_eq!(features.len(), 2, "{diff}");
    let banner = &features[0];
    assert_eq!(banner["feature"], "banner");
    assert_eq!(banner["status"], "changed");
    assert_eq!(
        banner["changes"]["enabled"],
        json!({"from": false, "to": true})
    );
    assert_eq!(
        banner["changes"]["value"],
        json!({"from": "hello", "to": "hi there"})
    );
    assert_eq!(
        banner["changes"]["segment_overrides"],
        json!({"from": [], "to": [{"segment": "beta", "enabled": true, "value": "for beta", "variants": []}]})
    );
    assert!(banner["changes"].get("variants").is_none(), "{banner}");
    let checkout = &features[1];
    assert_eq!(checkout["feature"], "checkout");
    assert_eq!(
        checkout["changes"],
        json!({"variants": {"from": [{"option": "new", "weight": 30.0}], "to": [{"option": "new", "weight": 50.0}]}})
    );
    // The other way round swaps the sides.
    let back = compare(&admin, staging_id, 1).await;
    assert_eq!(
        back["features"][0]["changes"]["value"],
        json!({"from": "hi there", "to": "hello"})
    );

    // Another project's environment compares by feature name.
    ok(
        &admin,
        Method::POST,
        "/admin/v1/projects",
        json!({"name": "Mobile"}),
    )
    .await;
    let mobile = ok(
        &admin,
        Method::POST,
        "/admin/v1/projects/2/environments",
        json!({"name": "Production"}),
    )
    .await;
    ok(
        &admin,
        Method::POST,
        "/admin/v1/projects/2/features",
        json!({"name": "Banner", "initial_value": "hello"}),
    )
    .await;
    ok(
        &admin,
        Method::POST,
        "/admin/v1/projects/2/features",
        json!({"name": "dark-mode"}),
    )
    .await;
    let across = compare(&admin, 1, mobile["id"].as_u64().unwrap()).await;
    let statuses: Vec<(String, String)> = across["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["feature"].as_str().unwrap().to_owned(),
                f["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        statuses,
        [
            ("checkout".to_owned(), "only_in_from".to_owned()),
            ("dark-mode".to_owned(), "only_in_to".to_owned()),
        ],
        "banner is alike in both: {across}"
    );

    // The CLI: by client key, and by name within a project; JSON is the API's answer.
    let staging_key = staging["client_key"].as_str().unwrap();
    let (code, out, err) = cli(
        &server,
        &[
            "environments",
            "diff",
            &production_key,
            staging_key,
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), diff);
    let (code, out, err) = cli(
        &server,
        &[
            "environments",
            "diff",
            "Production",
            "Staging",
            "--project",
            "Web",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("banner") && l.contains("value") && l.contains("hi there")),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.contains("checkout") && l.contains("variants")),
        "{out}"
    );
    let (code, out, err) = cli(
        &server,
        &["environments", "diff", &production_key, &production_key],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("are the same"), "{out}");

    // Unknown environments are 404s.
    let (code, body) = admin
        .call(Method::GET, "/admin/v1/environments/1/compare/999", None)
        .await;
    assert_eq!(code, 404, "{body}");
    assert_eq!(body["error"]["code"], "not_found");

    // A viewer of Production alone may not compare it with Staging, either way round.
    let viewer = common::access::user(&server, "viewer@example.com", "a-long-password-1").await;
    common::access::grant(&server, viewer, "viewer", json!({"environment_id": 1})).await;
    let session = Auth::Bearer(
        common::access::login(&server, "viewer@example.com", "a-long-password-1").await,
    );
    let path = |a: u64, b: u64| format!("/admin/v1/environments/{a}/compare/{b}");
    assert_eq!(
        status_of(&server, &session, Method::GET, &path(1, 1)).await,
        200
    );
    assert_eq!(
        status_of(&server, &session, Method::GET, &path(1, staging_id)).await,
        403
    );
    assert_eq!(
        status_of(&server, &session, Method::GET, &path(staging_id, 1)).await,
        403
    );
}

#[tokio::test]
async fn a_clone_is_the_same_environment_with_new_keys_and_the_same_hash_seeds() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let production_key = admin.web_production().await;
    let (option_id, segment_id) = checkout_and_beta(&admin, 0).await;
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/1/features/1/state",
        json!({"enabled": true, "variants": [{"option_id": option_id, "weight": 50}]}),
    )
    .await;
    ok(
        &admin,
        Method::PUT,
        &format!("/admin/v1/environments/1/features/1/segment-overrides/{segment_id}"),
        json!({"enabled": true, "value": "for beta"}),
    )
    .await;
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/1",
        json!({"settings": {"allow_client_traits": false}}),
    )
    .await;
    let audit_before = common::access::audit(&server).await.len();

    let clone = ok(
        &admin,
        Method::POST,
        "/admin/v1/projects/1/environments",
        json!({"name": "Production copy", "clone_from": 1}),
    )
    .await;
    let clone_id = clone["id"].as_u64().unwrap();
    let clone_key = clone["client_key"].as_str().unwrap().to_owned();
    assert_ne!(clone_key, production_key);
    let diff = compare(&admin, 1, clone_id).await;
    assert_eq!(diff["same"], true, "a clone compares the same: {diff}");
    let production = admin.get("/admin/v1/environments/1").await;
    assert_eq!(clone["settings"], production["settings"], "{clone}");
    // One audited change.
    let audit = common::access::audit(&server).await;
    assert_eq!(
        audit.len(),
        audit_before + 1,
        "{:?}",
        &audit[audit_before..]
    );
    assert_eq!(audit[audit_before]["action"], "environment.cloned");

    // The same hash seeds (django_id and UUID of every feature state).
    let seeds = |document: &Value| -> Vec<Value> {
        document["feature_states"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| json!([s["django_id"], s["featurestate_uuid"]]))
            .collect()
    };
    let document = |id: u64| format!("/admin/v1/environments/{id}/document");
    assert_eq!(
        seeds(&fetched(&admin, &document(1)).await),
        seeds(&fetched(&admin, &document(clone_id)).await)
    );
    // Refusals: a source of another project, an unknown source, a taken name.
    ok(
        &admin,
        Method::POST,
        "/admin/v1/projects",
        json!({"name": "Mobile"}),
    )
    .await;
    for (project, body, code) in [
        (2, json!({"name": "x", "clone_from": 1}), 400),
        (1, json!({"name": "x", "clone_from": 99}), 404),
        (1, json!({"name": "Production", "clone_from": 1}), 409),
    ] {
        let (status, answer) = admin
            .call(
                Method::POST,
                &format!("/admin/v1/projects/{project}/environments"),
                Some(body),
            )
            .await;
        assert_eq!(status, code, "{answer}");
    }

    // The CLI clones by name within the project.
    let (code, out, err) = cli(
        &server,
        &[
            "environments",
            "create",
            "--project",
            "Web",
            "Staging",
            "--from",
            "Production",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let staging: Value = serde_json::from_str(&out).unwrap();
    let diff = compare(&admin, 1, staging["id"].as_u64().unwrap()).await;
    assert_eq!(diff["same"], true, "{diff}");
}
