//! Tags, archiving, history and rollback with the real binary: tags are kept tidy and
//! filter lists and bulk edits; an archived feature disappears from SDKs and lists and comes
//! back as it was, across a restart; a feature's history reads from the audit log; a
//! rollback restores an earlier configuration as a new audited change.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use std::time::Duration;

use reqwest::Method;
use serde_json::{Value, json};

use common::server::{Admin, Server, cli, eventually_flags};

async fn ok(admin: &Admin, method: Method, path: &str, body: Value) -> Value {
    let (code, answer) = admin.call(method, path, Some(body)).await;
    assert!((200..300).contains(&code), "{path}: {code} {answer}");
    answer
}

fn names(features: &[Value]) -> Vec<String> {
    features
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect()
}

/// Web/Production with `banner` (tagged), `checkout` (tagged otherwise) and `legacy`.
async fn tagged_features(admin: &Admin) -> String {
    let key = admin.web_production().await;
    let banner = admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello",
                   "tags": ["team:web", " temporary ", "team:web"]}),
        )
        .await;
    assert_eq!(
        banner["tags"],
        json!(["team:web", "temporary"]),
        "trimmed, sorted, once"
    );
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "checkout", "tags": ["team:payments"]}),
        )
        .await;
    admin
        .post("/admin/v1/projects/1/features", json!({"name": "legacy"}))
        .await;
    key
}

#[tokio::test]
async fn tags_filter_lists_and_bulk_edits_and_bad_tags_are_refused() {
    let server = Server::start();
    let admin = Admin::new(&server);
    tagged_features(&admin).await;
    let list = |query: &'static str| {
        let admin = &admin;
        async move {
            let (code, body) = admin
                .call(
                    Method::GET,
                    &format!("/admin/v1/projects/1/features{query}"),
                    None,
                )
                .await;
            assert_eq!(code, 200, "{body}");
            names(body["items"].as_array().unwrap())
        }
    };
    assert_eq!(list("?tag=team:web").await, ["banner"]);
    assert_eq!(list("?tag=team:web,temporary").await, ["banner"]);
    assert!(list("?tag=team:web,team:payments").await.is_empty());
    assert_eq!(list("").await, ["banner", "checkout", "legacy"]);

    // Tags replaced whole; bad ones refused, naming the problem, nothing changed.
    let patched = ok(
        &admin,
        Method::PATCH,
        "/admin/v1/features/3",
        json!({"tags": ["team:web"]}),
    )
    .await;
    assert_eq!(patched["tags"], json!(["team:web"]));
    let long = "x".repeat(65);
    let many: Vec<String> = (0..21).map(|n| format!("t{n}")).collect();
    for bad in [
        json!({"tags": ["a,b"]}),
        json!({"tags": [""]}),
        json!({"tags": [long]}),
        json!({"tags": ["line\nbreak"]}),
        json!({"tags": many}),
        json!({"tags": null}),
        json!({"tags": "team:web"}),
    ] {
        let (code, body) = admin
            .call(Method::PATCH, "/admin/v1/features/3", Some(bad.clone()))
            .await;
        assert!(code == 400 || code == 422, "{bad}: {code} {body}");
        assert!(body["error"]["message"].is_string(), "{body}");
    }
    assert_eq!(
        admin.get("/admin/v1/features/3").await["tags"],
        json!(["team:web"])
    );

    // A bulk edit by tag touches the tagged features only.
    let (code, answer) = admin
        .call(
            Method::POST,
            "/admin/v1/projects/1/bulk-edit",
            Some(json!({"environments": [1], "tags": ["team:web"], "enabled": true})),
        )
        .await;
    assert_eq!(code, 200, "{answer}");
    let changed: Vec<&str> = answer["environments"][0]["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["feature"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["banner", "legacy"]);

    // The CLI: tag, list by tag.
    let (code, _, err) = cli(
        &server,
        &[
            "features",
            "tag",
            "--project",
            "Web",
            "checkout",
            "team:web",
            "beta",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let (code, out, err) = cli(
        &server,
        &[
            "features",
            "list",
            "--project",
            "Web",
            "--tag",
            "team:web,beta",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let listed: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert_eq!(names(&listed), ["checkout"]);
}

#[tokio::test]
async fn an_archived_feature_leaves_sdks_and_lists_and_comes_back_as_it_was() {
    let temp = tempfile::tempdir().unwrap();
    let data = temp.path().join("data");
    let server = Server::start_in(&data, &["--bootstrap-token", common::server::TOKEN]);
    let admin = Admin::new(&server);
    let key = tagged_features(&admin).await;
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/1/features/1/state",
        json!({"enabled": true, "value": "kept"}),
    )
    .await;
    let served = |flags: &Value| -> Vec<String> {
        flags
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["feature"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let within = Duration::from_secs(10);
    eventually_flags(&server, &key, within, |f| {
        served(f).contains(&"banner".into())
    })
    .await;

    let archived = ok(
        &admin,
        Method::PATCH,
        "/admin/v1/features/1",
        json!({"archived": true}),
    )
    .await;
    assert_eq!(archived["archived"], true);
    assert!(archived["archived_at"].is_string(), "{archived}");
    eventually_flags(&server, &key, within, |f| {
        served(f) == ["checkout", "legacy"]
    })
    .await;
    let document = admin.get("/admin/v1/environments/1/document").await;
    assert!(
        !document.to_string().contains("\"banner\""),
        "the document hides it too"
    );
    let listed = admin.get("/admin/v1/projects/1/features").await;
    assert_eq!(
        names(listed["items"].as_array().unwrap()),
        ["checkout", "legacy"]
    );
    let only = admin
        .get("/admin/v1/projects/1/features?archived=true")
        .await;
    assert_eq!(names(only["items"].as_array().unwrap()), ["banner"]);
    let (code, body) = admin
        .call(
            Method::GET,
            "/admin/v1/projects/1/features?archived=maybe",
            None,
        )
        .await;
    assert_eq!(code, 400, "{body}");

    // It stays archived across a restart.
    drop(server);
    let server = Server::start_in(&data, &[]);
    let admin = Admin::new(&server);
    assert_eq!(admin.get("/admin/v1/features/1").await["archived"], true);
    eventually_flags(&server, &key, within, |f| {
        served(f) == ["checkout", "legacy"]
    })
    .await;

    // Restored from the CLI: served again with the state it had.
    let (code, out, err) = cli(
        &server,
        &["features", "list", "--project", "Web", "--archived"],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("banner"), "{out}");
    let (code, _, err) = cli(
        &server,
        &["features", "restore", "--project", "Web", "banner"],
    );
    assert_eq!(code, 0, "{err}");
    eventually_flags(&server, &key, within, |flags| {
        flags.as_array().unwrap().iter().any(|f| {
            f["feature"]["name"] == "banner"
                && f["enabled"] == true
                && f["feature_state_value"] == "kept"
        })
    })
    .await;
    let audit = common::access::audit(&server).await;
    let actions: Vec<&str> = audit.iter().filter_map(|e| e["action"].as_str()).collect();
    assert!(actions.contains(&"feature.archived") && actions.contains(&"feature.restored"));
}

#[tokio::test]
async fn history_reads_the_audit_log_and_a_rollback_restores_an_earlier_state() {
    let server = Server::start();
    let admin = Admin::new(&server);
    tagged_features(&admin).await;
    admin
        .post(
            "/admin/v1/projects/1/environments",
            json!({"name": "Staging"}),
        )
        .await;
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "beta", "rules": [{"type": "ALL", "conditions": [
                {"property": "beta", "operator": "EQUAL", "value": "true"}]}]}),
        )
        .await;
    let set = |value: &'static str| {
        let admin = &admin;
        async move {
            ok(
                admin,
                Method::PATCH,
                "/admin/v1/environments/1/features/1/state",
                json!({"enabled": true, "value": value}),
            )
            .await;
        }
    };
    set("v1").await;
    let good = admin.get("/admin/v1/audit/verify").await["verification"]["entries"]
        .as_u64()
        .unwrap();
    set("v2").await;
    ok(
        &admin,
        Method::PUT,
        "/admin/v1/environments/1/features/1/segment-overrides/1",
        json!({"enabled": false, "value": "for beta"}),
    )
    .await;
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/2/features/1/state",
        json!({"value": "staging"}),
    )
    .await;

    // The history: creation, both environments' changes; one environment's alone.
    let history = admin.get("/admin/v1/features/1/history").await;
    let actions: Vec<&str> = history["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions[0], "feature.created", "{actions:?}");
    assert!(actions.len() >= 6, "{actions:?}");
    let production = admin
        .get("/admin/v1/features/1/history?environment_id=1")
        .await;
    let items = production["items"].as_array().unwrap();
    // Its state made with the feature, v1, v2 and the override.
    assert_eq!(items.len(), 4, "{production}");
    for item in items {
        for change in item["changes"].as_array().unwrap() {
            assert_eq!(change["kind"], "feature_state", "{item}");
            assert_eq!(change["after"]["environment_id"], 1, "{item}");
        }
    }

    // A dry run of the rollback to just after v1 shows it; applied, v1 is back and the
    // override is gone, in Production only.
    let path = "/admin/v1/environments/1/features/1/rollback";
    let review = ok(
        &admin,
        Method::POST,
        path,
        json!({"to": good, "dry_run": true}),
    )
    .await;
    let changes = &review["environments"][0]["features"][0]["changes"];
    assert_eq!(
        changes["value"],
        json!({"from": "v2", "to": "v1"}),
        "{review}"
    );
    assert_eq!(changes["segment_overrides"]["to"], json!([]), "{review}");
    let applied = ok(&admin, Method::POST, path, json!({"to": good})).await;
    assert_eq!(applied["applied"], true, "{applied}");
    let state = admin
        .get("/admin/v1/environments/1/features/1/segment-overrides")
        .await;
    assert_eq!(state["items"].as_array().map_or(0, Vec::len), 0, "{state}");
    let document = admin.get("/admin/v1/environments/1/document").await;
    let banner = document["feature_states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["feature"]["name"] == "banner")
        .unwrap();
    assert_eq!(banner["feature_state_value"], "v1");
    let staging = admin.get("/admin/v1/environments/2/document").await;
    assert!(
        staging.to_string().contains("\"staging\""),
        "Staging keeps its own"
    );
    let audit = common::access::audit(&server).await;
    let entry = audit
        .iter()
        .find(|e| e["action"] == "feature.rolled_back")
        .unwrap();
    assert_eq!(entry["detail"]["to_seq"], good, "{entry}");

    // Before the feature existed there is nothing to restore; beyond the log's end is not
    // a place; the CLI shows the same dry run.
    let (code, body) = admin.call(Method::POST, path, Some(json!({"to": 1}))).await;
    assert_eq!(
        (code, body["error"]["code"].as_str()),
        (409, Some("cannot_restore")),
        "{body}"
    );
    let (code, body) = admin
        .call(Method::POST, path, Some(json!({"to": 1_000_000})))
        .await;
    assert_eq!(code, 400, "{body}");
    let to = (good + 1).to_string();
    let (code, out, err) = cli(
        &server,
        &[
            "flags",
            "rollback",
            "--project",
            "Web",
            "--env",
            "Production",
            "banner",
            "--to",
            &to,
            "--dry-run",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("v2") && out.contains("dry run"), "{out}");
    let (code, out, err) = cli(
        &server,
        &[
            "flags",
            "history",
            "--project",
            "Web",
            "banner",
            "--env",
            "Staging",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("staging") && !out.contains("for beta"),
        "{out}"
    );
}
