//! Explaining a live environment with the real binary: the admin API and
//! `burgee evaluate --environment KEY --identity … --explain` say which segment an identity
//! matched and why — from its stored traits, with traits given over them — and write nothing.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use reqwest::Method;
use serde_json::json;

use common::access::{Auth, status_of};
use common::server::{Admin, Server, cli, identify};

#[tokio::test]
async fn a_live_environment_explains_each_flag_of_an_identity() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "pros", "rules": [{"type": "ALL", "conditions": [
                {"property": "plan", "operator": "EQUAL", "value": "pro"}]}]}),
        )
        .await;
    let (code, body) = admin
        .call(
            Method::PUT,
            "/admin/v1/environments/1/features/1/segment-overrides/1",
            Some(json!({"enabled": true, "value": "for pros"})),
        )
        .await;
    assert_eq!(code, 200, "{body}");
    // Alice is stored as a pro.
    let (code, _) = identify(
        &server,
        &key,
        "alice",
        json!([{"trait_key": "plan", "trait_value": "pro"}]),
    )
    .await;
    assert_eq!(code, 200);
    let audit_before = common::access::audit(&server).await.len();

    let explain = |body: serde_json::Value| {
        let admin = &admin;
        async move {
            let (code, answer) = admin
                .call(Method::POST, "/admin/v1/environments/1/explain", Some(body))
                .await;
            assert_eq!(code, 200, "{answer}");
            answer["explanation"].as_str().unwrap().to_owned()
        }
    };
    let stored = explain(json!({"identifier": "alice"})).await;
    assert!(
        stored.contains("pros") && stored.contains("for pros"),
        "{stored}"
    );
    assert!(
        stored.contains("plan"),
        "the condition and its trait: {stored}"
    );
    // A trait given over the stored one changes the answer; so does ignoring stored traits.
    let free = explain(json!({"identifier": "alice", "traits": {"plan": "free"}})).await;
    assert!(!free.contains("\"for pros\""), "{free}");
    let fresh = explain(json!({"identifier": "alice", "stored_traits": false})).await;
    assert!(!fresh.contains("\"for pros\""), "{fresh}");
    let defaults = explain(json!({})).await;
    assert!(defaults.contains("banner"), "{defaults}");
    let (code, body) = admin
        .call(
            Method::POST,
            "/admin/v1/environments/1/explain",
            Some(json!({"traits": {"plan": "pro"}})),
        )
        .await;
    assert_eq!(code, 400, "traits need an identity: {body}");
    let (code, body) = admin
        .call(
            Method::POST,
            "/admin/v1/environments/1/explain",
            Some(json!({"identifier": ""})),
        )
        .await;
    assert_eq!(code, 400, "an empty identifier is no identity: {body}");

    // The CLI asks the same of the live environment.
    let (code, out, err) = cli(
        &server,
        &[
            "evaluate",
            "--environment",
            &key,
            "--identity",
            "alice",
            "--explain",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("pros") && out.contains("for pros"), "{out}");
    let (code, out, err) = cli(
        &server,
        &[
            "evaluate",
            "--environment",
            &key,
            "--identity",
            "alice",
            "--trait",
            "plan=free",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains("\"for pros\""), "{out}");

    // Nothing was written; stored traits need VIEW_IDENTITIES.
    assert_eq!(common::access::audit(&server).await.len(), audit_before);
    let id = common::access::user(&server, "look@example.com", "a-long-password-1").await;
    let role = json!({"name": "looker", "permissions": ["VIEW_PROJECT", "VIEW_ENVIRONMENT"]});
    common::access::admin_post(&server, "/admin/v1/roles", role).await;
    common::access::grant(&server, id, "looker", json!({"project_id": 1})).await;
    let session =
        Auth::Bearer(common::access::login(&server, "look@example.com", "a-long-password-1").await);
    let ask = |body: serde_json::Value| {
        let (server, session) = (&server, &session);
        async move {
            common::access::call(
                server,
                session,
                Method::POST,
                "/admin/v1/environments/1/explain",
                Some(&body),
            )
            .await
            .0
        }
    };
    assert_eq!(ask(json!({"identifier": "alice"})).await, 403);
    assert_eq!(
        ask(json!({"identifier": "alice", "stored_traits": false})).await,
        200
    );
    assert_eq!(
        status_of(&server, &session, Method::GET, "/admin/v1/environments/1").await,
        200
    );
}
