//! Every paginated admin list returns every item exactly once across pages, in its documented
//! order, walked with page size 1, including an imported project whose segment ids are out of
//! order.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::collections::HashSet;

use common::server::{Admin, Server, TOKEN, client};
use serde_json::{Value, json};

/// Every item of a list, one page of one at a time.
async fn walk(admin: &Admin, path: &str) -> Vec<Value> {
    let separator = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10_000 {
        let page_path = match &cursor {
            Some(c) => format!("{path}{separator}limit=1&cursor={c}"),
            None => format!("{path}{separator}limit=1"),
        };
        let page = admin.get(&page_path).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= 1, "{page}");
        items.extend(got.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return items,
        }
    }
    panic!("{path} never ended");
}

async fn check_list(admin: &Admin, path: &str, key: &str, at_least: usize) -> Vec<Value> {
    let walked = walk(admin, path).await;
    let separator = if path.contains('?') { '&' } else { '?' };
    let whole = admin.get(&format!("{path}{separator}limit=500")).await;
    let whole = whole["items"].as_array().unwrap().clone();
    assert_eq!(walked, whole, "{path}: page by page differs from one page");
    assert!(walked.len() >= at_least, "{path}: {} items", walked.len());
    let unique: HashSet<String> = walked.iter().map(|i| i[key].to_string()).collect();
    assert_eq!(unique.len(), walked.len(), "{path}: an item came twice");
    walked
}

fn document() -> Value {
    let segment = |id: u32, name: &str| {
        json!({"id": id, "name": name, "rules": [{"type": "ALL", "conditions": [], "rules": [
            {"type": "ANY", "conditions": [{"operator": "EQUAL", "property_": "plan", "value": name}], "rules": []}
        ]}]})
    };
    json!({
        "id": 5,
        "api_key": "imported-client-key",
        "name": "Imported",
        "project": {
            "id": 9, "name": "Imported", "hide_disabled_flags": false,
            "organisation": {"id": 1, "name": "o", "feature_analytics": false, "stop_serving_flags": false, "persist_trait_data": true},
            "segments": [segment(40, "forty"), segment(12, "twelve"), segment(30, "thirty")]
        },
        "feature_states": [
            {"feature": {"id": 3, "name": "banner", "type": "STANDARD"}, "enabled": true,
             "feature_state_value": "x", "django_id": 77, "multivariate_feature_state_values": []}
        ]
    })
}

#[tokio::test]
async fn every_list_lists_everything_once_in_its_order() {
    let server = Server::start();
    let admin = Admin::new(&server);
    let response = client()
        .post(server.url("/admin/v1/import/flagsmith"))
        .bearer_auth(TOKEN)
        .json(&document())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201, "{}", response.text().await.unwrap());
    for name in ["Web", "Mobile", "Internal"] {
        admin
            .post("/admin/v1/projects", json!({"name": name}))
            .await;
    }
    let projects = check_list(&admin, "/admin/v1/projects", "id", 4).await;
    let imported = projects.iter().find(|p| p["name"] == "Imported").unwrap()["id"].clone();
    for name in ["Staging", "Development", "QA"] {
        admin
            .post(
                &format!("/admin/v1/projects/{imported}/environments"),
                json!({"name": name}),
            )
            .await;
    }
    for i in 0..4 {
        admin
            .post(
                &format!("/admin/v1/projects/{imported}/features"),
                json!({"name": format!("flag-{i}"), "initial_value": i}),
            )
            .await;
        admin
            .post(
                &format!("/admin/v1/projects/{imported}/segments"),
                json!({"name": format!("created-{i}"), "rules": []}),
            )
            .await;
    }
    let environments = check_list(
        &admin,
        &format!("/admin/v1/projects/{imported}/environments"),
        "id",
        4,
    )
    .await;
    check_list(&admin, "/admin/v1/environments", "id", 4).await;
    check_list(
        &admin,
        &format!("/admin/v1/projects/{imported}/features"),
        "id",
        5,
    )
    .await;

    // Segments list in evaluation order: the document's order first, ids out of order.
    let segments = check_list(
        &admin,
        &format!("/admin/v1/projects/{imported}/segments"),
        "id",
        7,
    )
    .await;
    let names: Vec<&str> = segments
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "forty",
            "twelve",
            "thirty",
            "created-0",
            "created-1",
            "created-2",
            "created-3"
        ]
    );

    let env = environments[0]["id"].clone();
    check_list(
        &admin,
        &format!("/admin/v1/environments/{env}/feature-states"),
        "id",
        5,
    )
    .await;
    for name in ["a", "b", "c"] {
        admin
            .post(
                &format!("/admin/v1/environments/{env}/server-keys"),
                json!({"name": name}),
            )
            .await;
    }
    check_list(
        &admin,
        &format!("/admin/v1/environments/{env}/server-keys"),
        "id",
        3,
    )
    .await;

    let key = environments[0]["client_key"].as_str().unwrap();
    for identifier in ["zed", "a/b", "ü-umlaut", "with space", "x%y&z=1", "0"] {
        let status = client()
            .post(server.url("/api/v1/identities/"))
            .header("X-Environment-Key", key)
            .json(&json!({"identifier": identifier, "traits": []}))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 200);
    }
    let identities = check_list(
        &admin,
        &format!("/admin/v1/environments/{env}/identities"),
        "identifier",
        6,
    )
    .await;
    let listed: Vec<&str> = identities
        .iter()
        .map(|i| i["identifier"].as_str().unwrap())
        .collect();
    let mut sorted = listed.clone();
    sorted.sort_unstable();
    assert_eq!(listed, sorted, "identities are listed by identifier");
}

#[tokio::test]
async fn a_cursor_this_api_did_not_give_is_refused() {
    let server = Server::start();
    let admin = Admin::new(&server);
    for cursor in ["12", "c1.zz", "garbage"] {
        let (status, body) = admin
            .call(
                reqwest::Method::GET,
                &format!("/admin/v1/projects?cursor={cursor}"),
                None,
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(body["error"]["code"], "invalid_cursor");
    }
    let (status, body) = admin
        .call(reqwest::Method::GET, "/admin/v1/projects?limit=0", None)
        .await;
    assert_eq!(status, 400, "{body}");
}
