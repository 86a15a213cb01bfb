//! Promotions and bulk edits with the real binary: a dry run shows exactly the diff and
//! changes nothing; applied with its ETag the targets end up like the source (segment
//! overrides and weights included, their own hash seeds kept) in one audited change; a change
//! meanwhile to any environment involved is refused with 412 and nothing is applied; a bad
//! or forbidden target refuses the whole change; the CLI shows and applies the same.

#![allow(clippy::unwrap_used)] // test code fails loudly

mod common;

use reqwest::Method;
use serde_json::{Value, json};

use common::access::{Auth, call_with};
use common::server::{Admin, Server, cli};

async fn ok(admin: &Admin, method: Method, path: &str, body: Value) -> Value {
    let (code, answer) = admin.call(method, path, Some(body)).await;
    assert!((200..300).contains(&code), "{path}: {code} {answer}");
    answer
}

/// A POST as `auth` with an optional `If-Match`: status, ETag header and body.
async fn post(
    server: &Server,
    auth: &Auth,
    path: &str,
    body: &Value,
    if_match: Option<&str>,
) -> (u16, Option<String>, Value) {
    let headers: Vec<(&str, &str)> = if_match.map(|e| ("if-match", e)).into_iter().collect();
    let (code, headers, answer) =
        call_with(server, auth, Method::POST, path, Some(body), &headers).await;
    let etag = headers.get("etag").map(|v| v.to_str().unwrap().to_owned());
    (code, etag, answer)
}

async fn same(admin: &Admin, a: u64, b: u64) -> bool {
    admin
        .get(&format!("/admin/v1/environments/{a}/compare/{b}"))
        .await["same"]
        == true
}

/// The environment's banner default as SDKs see it: (enabled, value, featurestate uuid).
async fn banner(admin: &Admin, env: u64) -> (Value, Value, Value) {
    let document = admin
        .get(&format!("/admin/v1/environments/{env}/document"))
        .await;
    let state = document["feature_states"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["feature"]["name"] == "banner")
        .unwrap()
        .clone();
    (
        state["enabled"].clone(),
        state["feature_state_value"].clone(),
        state["featurestate_uuid"].clone(),
    )
}

/// Web with Production (1), Staging (2) and Development (3); `banner` and the multivariate
/// `checkout`, and segment `beta`. Staging differs: banner on with a new value and a beta
/// override, checkout's weight moved.
async fn three_environments(admin: &Admin) {
    admin.web_production().await;
    for name in ["Staging", "Development"] {
        admin
            .post("/admin/v1/projects/1/environments", json!({"name": name}))
            .await;
    }
    admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "banner", "initial_value": "hello"}),
        )
        .await;
    let checkout = admin
        .post(
            "/admin/v1/projects/1/features",
            json!({"name": "checkout", "type": "MULTIVARIATE", "initial_value": "old",
                   "options": [{"value": "new", "default_weight": 30}]}),
        )
        .await;
    let option = &checkout["options"][0]["id"];
    admin
        .post(
            "/admin/v1/projects/1/segments",
            json!({"name": "beta", "rules": [{"type": "ALL", "conditions": [
                {"property": "beta", "operator": "EQUAL", "value": "true"}]}]}),
        )
        .await;
    ok(
        admin,
        Method::PATCH,
        "/admin/v1/environments/2/features/1/state",
        json!({"enabled": true, "value": "v2"}),
    )
    .await;
    ok(
        admin,
        Method::PUT,
        "/admin/v1/environments/2/features/1/segment-overrides/1",
        json!({"enabled": true, "value": "for beta"}),
    )
    .await;
    ok(
        admin,
        Method::PATCH,
        "/admin/v1/environments/2/features/2/state",
        json!({"variants": [{"option_id": option, "weight": 50}]}),
    )
    .await;
}

#[tokio::test]
async fn a_promotion_is_reviewed_then_applied_to_every_target_at_once() {
    let server = Server::start();
    let admin = Admin::new(&server);
    three_environments(&admin).await;
    let token = Auth::admin();
    let promote = "/admin/v1/environments/2/promote";
    let body = json!({"to": [1, 3], "features": ["banner", "Checkout"], "dry_run": true});
    let (_, _, seed_before) = banner(&admin, 1).await;

    // The dry run: exactly the diff, per target, and nothing changes.
    let (code, etag, plan) = post(&server, &token, promote, &body, None).await;
    assert_eq!(code, 200, "{plan}");
    assert_eq!(
        (plan["dry_run"].clone(), plan["applied"].clone()),
        (json!(true), json!(false))
    );
    assert_eq!(plan["edits"], 4, "{plan}");
    let etag = etag.unwrap();
    assert_eq!(plan["etag"], etag);
    let targets = plan["environments"].as_array().unwrap();
    assert_eq!(
        targets
            .iter()
            .map(|t| t["name"].clone())
            .collect::<Vec<_>>(),
        [json!("Production"), json!("Development")]
    );
    let banner_change = &targets[0]["features"][0];
    assert_eq!(banner_change["feature"], "banner");
    assert_eq!(
        banner_change["changes"]["value"],
        json!({"from": "hello", "to": "v2"})
    );
    assert_eq!(
        banner_change["changes"]["segment_overrides"]["to"],
        json!([{"segment": "beta", "enabled": true, "value": "for beta", "variants": []}])
    );
    assert_eq!(
        targets[0]["features"][1]["changes"]["variants"]["to"],
        json!([{"option": "new", "weight": 50.0}])
    );
    assert!(!same(&admin, 2, 1).await && !same(&admin, 2, 3).await);

    // Applied with the dry run's ETag: both targets are like Staging, in one audit entry.
    let audit_before = common::access::audit(&server).await.len();
    let apply = json!({"to": [1, 3], "features": ["banner", "checkout"]});
    let (code, new_etag, answer) = post(&server, &token, promote, &apply, Some(&etag)).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["applied"], true);
    assert_ne!(new_etag.unwrap(), etag);
    assert!(same(&admin, 2, 1).await && same(&admin, 2, 3).await);
    let (enabled, value, seed_after) = banner(&admin, 1).await;
    assert_eq!((enabled, value), (json!(true), json!("v2")));
    assert_eq!(seed_after, seed_before, "a target keeps its hash seed");
    let audit = common::access::audit(&server).await;
    assert_eq!(audit.len(), audit_before + 1);
    let entry = audit
        .iter()
        .find(|e| e["action"] == "features.promoted")
        .unwrap();
    assert_eq!(entry["detail"]["from_environment_id"], 2, "{entry}");
    assert_eq!(entry["detail"]["environment_ids"], json!([1, 3]), "{entry}");

    // Again: nothing to change, nothing applied.
    let (code, _, answer) = post(&server, &token, promote, &apply, None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(
        (answer["applied"].clone(), answer["edits"].clone()),
        (json!(false), json!(0))
    );
}

#[tokio::test]
async fn a_change_meanwhile_refuses_the_promotion_and_nothing_is_applied() {
    let server = Server::start();
    let admin = Admin::new(&server);
    three_environments(&admin).await;
    let token = Auth::admin();
    let promote = "/admin/v1/environments/2/promote";
    let review = json!({"to": [1, 3], "features": ["banner"], "dry_run": true});
    let apply = json!({"to": [1, 3], "features": ["banner"]});
    let (_, etag, _) = post(&server, &token, promote, &review, None).await;
    let etag = etag.unwrap();

    // Someone changes Production after the review.
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/1/features/2/state",
        json!({"enabled": true}),
    )
    .await;
    let (code, _, answer) = post(&server, &token, promote, &apply, Some(&etag)).await;
    assert_eq!(code, 412, "{answer}");
    assert_eq!(answer["error"]["code"], "revision_mismatch");
    let changed = answer["error"]["details"]["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 1, "{answer}");
    assert_eq!(changed[0]["environment_id"], 1);
    assert_eq!(banner(&admin, 1).await.1, json!("hello"));
    assert_eq!(
        banner(&admin, 3).await.1,
        json!("hello"),
        "no target changed"
    );

    // A change to the source after the review refuses it too.
    let (_, etag, _) = post(&server, &token, promote, &review, None).await;
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/2/features/1/state",
        json!({"value": "v3"}),
    )
    .await;
    let (code, _, answer) = post(&server, &token, promote, &apply, etag.as_deref()).await;
    assert_eq!(code, 412, "{answer}");
    assert_eq!(
        answer["error"]["details"]["changed"][0]["environment_id"],
        2
    );
    assert_eq!(banner(&admin, 3).await.1, json!("hello"));

    // An environment's own ETag fits a one-target plan only when nothing else is involved.
    let (code, _, answer) = post(&server, &token, promote, &apply, Some("\"7\"")).await;
    assert_eq!(code, 400, "{answer}");
    assert_eq!(answer["error"]["code"], "invalid_if_match");
    let (code, _, answer) = post(&server, &token, promote, &apply, Some("\"1.x-3.4\"")).await;
    assert_eq!(code, 400, "{answer}");

    // Bad requests: nothing to promote to, the source itself, unknown features, another
    // project's environment.
    admin
        .post("/admin/v1/projects", json!({"name": "Other"}))
        .await;
    admin
        .post(
            "/admin/v1/projects/2/environments",
            json!({"name": "Elsewhere"}),
        )
        .await;
    for (body, code, error) in [
        (
            json!({"to": [], "features": ["banner"]}),
            400,
            "invalid_request",
        ),
        (
            json!({"to": [2], "features": ["banner"]}),
            400,
            "invalid_request",
        ),
        (
            json!({"to": [1], "features": ["banner", "nope"]}),
            400,
            "unknown_feature",
        ),
        (
            json!({"to": [4], "features": ["banner"]}),
            400,
            "invalid_request",
        ),
        (
            json!({"to": [99], "features": ["banner"]}),
            404,
            "not_found",
        ),
        (
            json!({"to": [1], "features": ["banner"], "extra": 1}),
            400,
            "invalid_json",
        ),
    ] {
        let (status, _, answer) = post(&server, &token, promote, &body, None).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (code, Some(error)),
            "{body}: {answer}"
        );
    }
    assert_eq!(banner(&admin, 1).await.1, json!("hello"));
}

#[tokio::test]
async fn every_target_needs_the_callers_permission() {
    let server = Server::start();
    let admin = Admin::new(&server);
    three_environments(&admin).await;
    // Sees the whole project, may change Production only.
    let id = common::access::user(&server, "release@example.com", "a-long-password-1").await;
    common::access::grant(&server, id, "viewer", json!({"project_id": 1})).await;
    common::access::grant(&server, id, "editor", json!({"environment_id": 1})).await;
    let session = Auth::Bearer(
        common::access::login(&server, "release@example.com", "a-long-password-1").await,
    );
    let promote = "/admin/v1/environments/2/promote";
    let both = json!({"to": [1, 3], "features": ["banner"]});
    let (code, _, answer) = post(&server, &session, promote, &both, None).await;
    assert_eq!(code, 403, "{answer}");
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("environment 3"),
        "{answer}"
    );
    assert_eq!(banner(&admin, 1).await.1, json!("hello"), "nothing applied");
    let review = json!({"to": [1, 3], "features": ["banner"], "dry_run": true});
    assert_eq!(post(&server, &session, promote, &review, None).await.0, 200);
    let one = json!({"to": [1], "features": ["banner"]});
    let (code, _, answer) = post(&server, &session, promote, &one, None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(banner(&admin, 1).await.1, json!("v2"));

    // A bulk edit likewise: Development is not theirs.
    let edit = json!({"environments": [1, 3], "features": ["banner"], "enabled": false});
    let (code, _, answer) = post(
        &server,
        &session,
        "/admin/v1/projects/1/bulk-edit",
        &edit,
        None,
    )
    .await;
    assert_eq!(code, 403, "{answer}");
    assert_eq!(banner(&admin, 1).await.0, json!(true), "nothing applied");
}

#[tokio::test]
async fn a_bulk_edit_changes_every_feature_everywhere_or_nothing() {
    let server = Server::start();
    let admin = Admin::new(&server);
    three_environments(&admin).await;
    let token = Auth::admin();
    let path = "/admin/v1/projects/1/bulk-edit";
    let body = json!({"environments": [1, 2, 3], "features": ["banner", "checkout"],
                      "enabled": false, "value": "off", "dry_run": true});
    let (code, etag, plan) = post(&server, &token, path, &body, None).await;
    assert_eq!(code, 200, "{plan}");
    // banner and checkout everywhere take the value; only Staging's banner was enabled.
    assert_eq!(plan["edits"], 6, "{plan}");
    let staging = &plan["environments"][1];
    assert_eq!(staging["name"], "Staging");
    assert_eq!(
        staging["features"][0]["changes"],
        json!({"enabled": {"from": true, "to": false}, "value": {"from": "v2", "to": "off"}})
    );
    assert_eq!(
        banner(&admin, 2).await.1,
        json!("v2"),
        "a dry run changes nothing"
    );

    // One bad environment refuses all: unknown, another project's, or one that moved.
    admin
        .post("/admin/v1/projects", json!({"name": "Other"}))
        .await;
    admin
        .post(
            "/admin/v1/projects/2/environments",
            json!({"name": "Elsewhere"}),
        )
        .await;
    for (environments, code) in [(json!([1, 99]), 404), (json!([1, 4]), 400)] {
        let bad = json!({"environments": environments, "features": ["banner"], "value": "off"});
        let (status, _, answer) = post(&server, &token, path, &bad, None).await;
        assert_eq!(status, code, "{answer}");
    }
    ok(
        &admin,
        Method::PATCH,
        "/admin/v1/environments/3/features/1/state",
        json!({"value": "dev"}),
    )
    .await;
    let apply = json!({"environments": [1, 2, 3], "features": ["banner", "checkout"],
                       "enabled": false, "value": "off"});
    let (code, _, answer) = post(&server, &token, path, &apply, etag.as_deref()).await;
    assert_eq!(code, 412, "{answer}");
    for (env, value) in [(1, "hello"), (2, "v2"), (3, "dev")] {
        assert_eq!(
            banner(&admin, env).await.1,
            json!(value),
            "environment {env}"
        );
    }
    // Invalid input.
    for bad in [
        json!({"environments": [1], "features": ["banner"]}),
        json!({"environments": [1], "features": ["banner"], "value": {"a": 1}}),
        json!({"environments": [1], "features": ["banner"], "enabled": null}),
        json!({"environments": [1, 1], "features": ["banner"], "enabled": true}),
        json!({"environments": [1], "features": [], "enabled": true}),
    ] {
        let (status, _, answer) = post(&server, &token, path, &bad, None).await;
        assert_eq!(status, 400, "{bad}: {answer}");
    }

    // Applied without If-Match, against what it was planned from.
    let (code, _, answer) = post(&server, &token, path, &apply, None).await;
    assert_eq!(code, 200, "{answer}");
    assert_eq!(answer["edits"], 6, "{answer}");
    for env in [1, 2, 3] {
        let (enabled, value, _) = banner(&admin, env).await;
        assert_eq!((enabled, value), (json!(false), json!("off")), "{env}");
    }
    let audit = common::access::audit(&server).await;
    assert_eq!(
        audit
            .iter()
            .filter(|e| e["action"] == "features.bulk_edited")
            .count(),
        1
    );
}

#[tokio::test]
async fn the_cli_shows_a_promotion_and_applies_exactly_what_it_showed() {
    let server = Server::start();
    let admin = Admin::new(&server);
    three_environments(&admin).await;
    let promote = [
        "flags",
        "promote",
        "--project",
        "Web",
        "--from",
        "staging",
        "--to",
        "production",
        "banner",
        "checkout",
    ];
    let (code, out, err) = cli(&server, &[&promote[..], &["--dry-run"]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(
        out.lines()
            .any(|l| l.contains("Production") && l.contains("banner") && l.contains("v2")),
        "{out}"
    );
    let etag = out
        .split("--if-match '")
        .nth(1)
        .and_then(|rest| rest.split('\'').next())
        .unwrap_or_else(|| panic!("no ETag offered: {out}"))
        .to_owned();
    assert!(!same(&admin, 2, 1).await, "a dry run changes nothing");
    let (code, out, err) = cli(&server, &[&promote[..], &["--if-match", &etag]].concat());
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("applied 2 edits"), "{out}");
    assert!(same(&admin, 2, 1).await);
    // The same ETag again is stale now.
    let (code, _, err) = cli(&server, &[&promote[..], &["--if-match", &etag]].concat());
    assert_ne!(code, 0);
    assert!(err.contains("412"), "{err}");

    // A bulk edit by environment names, as JSON.
    let (code, out, err) = cli(
        &server,
        &[
            "flags",
            "edit",
            "--project",
            "Web",
            "--env",
            "Production",
            "--env",
            "Development",
            "banner",
            "--enabled",
            "false",
            "--value",
            "7",
            "--output",
            "json",
        ],
    );
    assert_eq!(code, 0, "{err}");
    let answer: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(answer["applied"], true, "{answer}");
    assert_eq!(banner(&admin, 1).await.1, json!(7));
    assert_eq!(banner(&admin, 3).await.1, json!(7));
}
