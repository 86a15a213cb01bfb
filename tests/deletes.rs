//! Deletes finish or fail loudly: a deleted identity leaves no trait behind, and a deleted
//! environment or project stops serving at once while its identity rows go in the background.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::time::{Duration, Instant};

use common::server::{Admin, Server, client, identify, metric};
use reqwest::Method;
use serde_json::{Value, json};

async fn identified(server: &Server, key: &str, identifier: &str, traits: Value) -> Value {
    let (status, body) = identify(server, key, identifier, traits).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn gauge(server: &Server, name: &str) -> f64 {
    metric(server, name)
        .await
        .unwrap_or_else(|| panic!("no {name} in /metrics"))
}

#[tokio::test]
async fn a_deleted_identity_leaves_no_trait_behind() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    let traits: Vec<Value> = (0..50)
        .map(|i| json!({"trait_key": format!("t{i}"), "trait_value": i}))
        .collect();
    identified(&server, &key, "alice", json!(traits)).await;
    let (status, _) = admin
        .call(
            Method::DELETE,
            "/admin/v1/environments/1/identities/alice",
            None,
        )
        .await;
    assert_eq!(status, 204);
    let (status, _) = admin
        .call(
            Method::GET,
            "/admin/v1/environments/1/identities/alice",
            None,
        )
        .await;
    assert_eq!(status, 404);
    // The same identifier comes back empty: nothing of the old identity survived.
    let again = identified(&server, &key, "alice", json!([])).await;
    assert_eq!(again["traits"], json!([]), "{again}");
    let (status, _) = admin
        .call(
            Method::DELETE,
            "/admin/v1/environments/1/identities/nobody",
            None,
        )
        .await;
    assert_eq!(status, 404, "deleting what does not exist says so");
}

#[tokio::test]
async fn deleting_every_identity_of_an_environment_removes_all_their_traits() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    for i in 0..120 {
        identified(
            &server,
            &key,
            &format!("user{i}"),
            json!([{"trait_key": "a", "trait_value": i}, {"trait_key": "b", "trait_value": "x"}]),
        )
        .await;
    }
    let (status, body) = admin
        .call(Method::DELETE, "/admin/v1/environments/1/identities", None)
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["deleted"], 120);
    assert_eq!(gauge(&server, "burgee_identities").await, 0.0);
    let again = identified(&server, &key, "user7", json!([])).await;
    assert_eq!(again["traits"], json!([]));
}

#[tokio::test]
async fn a_deleted_environment_stops_at_once_and_its_rows_go_in_the_background() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    let other = admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Staging"}),
        )
        .await;
    let other_key = other["client_key"].as_str().unwrap().to_owned();
    let mut calls = Vec::new();
    for i in 0..3000 {
        let url = server.url("/api/v1/identities/");
        let key = if i % 3 == 0 {
            other_key.clone()
        } else {
            key.clone()
        };
        calls.push(tokio::spawn(async move {
            client()
                .post(url)
                .header("X-Environment-Key", key)
                .json(&json!({"identifier": format!("u{i}"), "traits": [{"trait_key": "i", "trait_value": i}]}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    for call in calls {
        assert_eq!(call.await.unwrap(), 200);
    }
    assert_eq!(gauge(&server, "burgee_identities").await, 3000.0);

    let (status, _) = admin
        .call(Method::DELETE, "/admin/v1/environments/1", None)
        .await;
    assert_eq!(status, 204);
    let flags = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(flags.status(), 403, "the key stops working at once");
    let (status, _) = admin
        .call(Method::GET, "/admin/v1/environments/1", None)
        .await;
    assert_eq!(status, 404);
    let (status, _) = admin
        .call(Method::GET, "/admin/v1/environments/1/identities/u1", None)
        .await;
    assert_eq!(status, 404);

    let deadline = Instant::now() + Duration::from_secs(60);
    while gauge(&server, "burgee_environments_being_deleted").await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the background purge did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        gauge(&server, "burgee_identities").await,
        1000.0,
        "only the other environment's identities remain"
    );
    let kept = admin.get("/admin/v1/environments/2/identities/u3").await;
    assert_eq!(kept["traits"]["i"], 3);
}

#[tokio::test]
async fn a_deleted_project_takes_its_environments_with_it() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let key = admin.web_production().await;
    identified(
        &server,
        &key,
        "alice",
        json!([{"trait_key": "a", "trait_value": 1}]),
    )
    .await;
    let (status, _) = admin
        .call(Method::DELETE, "/admin/v1/projects/1", None)
        .await;
    assert_eq!(status, 204);
    let flags = client()
        .get(server.url("/api/v1/flags/"))
        .header("X-Environment-Key", &key)
        .send()
        .await
        .unwrap();
    assert_eq!(flags.status(), 403);
    let deadline = Instant::now() + Duration::from_secs(30);
    while gauge(&server, "burgee_identities").await > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the project's identities were not removed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
