//! Cloning an environment with its identity overrides, with the real binary: thousands of
//! overrides are copied in bounded batches after the clone (one audited command each), the
//! copy serves them to SDKs, and a caller who may not manage identities is refused before
//! anything is created.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use futures_util::future::join_all;
use reqwest::Method;
use serde_json::{Value, json};

use common::access::{Auth, call};
use common::server::{Admin, Server, identify};

/// More than two batches' worth.
const OVERRIDES: usize = 2100;

#[tokio::test]
async fn a_clone_takes_every_identity_override_along_in_batches() {
    let server = Server::start();
    let admin = Admin::new(&server);
    admin.web_production().await;
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
    for chunk in (0..OVERRIDES).collect::<Vec<_>>().chunks(50) {
        let calls = chunk.iter().map(|n| {
            let admin = &admin;
            async move {
                let path = format!("/admin/v1/environments/1/identities/user-{n}/overrides/1");
                let (code, body) = admin
                    .call(
                        Method::PUT,
                        &path,
                        Some(json!({"enabled": true, "value": format!("for {n}")})),
                    )
                    .await;
                assert_eq!(code, 200, "{body}");
            }
        });
        join_all(calls).await;
    }

    // Without clone_from there is nothing to copy from.
    let (code, body) = admin
        .call(
            Method::POST,
            "/admin/v1/projects/1/environments",
            Some(json!({"name": "Copy", "identity_overrides": true})),
        )
        .await;
    assert_eq!(code, 400, "{body}");

    // A project viewer who may create environments but not manage identities is refused
    // before anything is created.
    let id = common::access::user(&server, "env@example.com", "a-long-password-1").await;
    common::access::grant(&server, id, "viewer", json!({"project_id": 1})).await;
    common::access::admin_post(
        &server,
        "/admin/v1/roles",
        json!({"name": "creator", "permissions": ["CREATE_ENVIRONMENT", "VIEW_ENVIRONMENT"]}),
    )
    .await;
    common::access::grant(&server, id, "creator", json!({"project_id": 1})).await;
    let session =
        Auth::Bearer(common::access::login(&server, "env@example.com", "a-long-password-1").await);
    let clone = json!({"name": "Staging", "clone_from": 1, "identity_overrides": true});
    let (code, _, body) = call(
        &server,
        &session,
        Method::POST,
        "/admin/v1/projects/1/environments",
        Some(&clone),
    )
    .await;
    assert_eq!(code, 403, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("IDENTITIES"),
        "{body}"
    );
    assert_eq!(
        admin.all("/admin/v1/projects/1/environments").await.len(),
        1
    );

    // The admin's clone copies them all, a batch per command.
    let audit_before = common::access::audit(&server).await.len();
    let (code, copy) = admin
        .call(
            Method::POST,
            "/admin/v1/projects/1/environments",
            Some(clone),
        )
        .await;
    assert_eq!(code, 201, "{copy}");
    assert_eq!(copy["identity_overrides_copied"], OVERRIDES, "{copy}");
    let audit = common::access::audit(&server).await;
    let batches: Vec<&Value> = audit[audit_before..]
        .iter()
        .filter(|e| e["action"] == "identity_overrides.copied")
        .collect();
    assert_eq!(batches.len(), 3, "batches of at most 1000");
    assert_eq!(batches[2]["detail"]["more"], false);

    // The copy serves them; copying again finds nothing left to copy.
    let key = copy["client_key"].as_str().unwrap();
    for n in [0, 1234, OVERRIDES - 1] {
        let (code, answer) = identify(&server, key, &format!("user-{n}"), json!([])).await;
        assert_eq!(code, 200, "{answer}");
        assert_eq!(
            answer["flags"][0]["feature_state_value"],
            format!("for {n}"),
            "{answer}"
        );
    }
    let (code, answer) = identify(&server, key, "someone-else", json!([])).await;
    assert_eq!(code, 200);
    assert_eq!(answer["flags"][0]["feature_state_value"], "hello");
}
