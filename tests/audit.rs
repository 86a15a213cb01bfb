//! The audit log through the real binary: one entry per mutation with its before/after,
//! SDK traffic counted not audited, tamper detection on the redb file, retention with a
//! checkpoint, and no secret in any log line or later answer.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use common::access::{
    Auth, admin_post, audit, call, call_with, cookie_secret, login, session_cookie, user,
};
use common::server::{Server, TOKEN, identify, metric};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "audit password 1";

/// Runs a call that must succeed and returns the one audit entry it added.
async fn one_entry(
    server: &Server,
    method: Method,
    path: &str,
    body: Option<Value>,
    action: &str,
) -> Value {
    let before = audit(server).await.len();
    let (status, _, answer) = call_with(
        server,
        &Auth::admin(),
        method.clone(),
        path,
        body.as_ref(),
        &[("user-agent", "audit-test/1.0")],
    )
    .await;
    assert!(
        (200..300).contains(&status),
        "{method} {path}: {status} {answer}"
    );
    let entries = audit(server).await;
    assert_eq!(
        entries.len(),
        before + 1,
        "{method} {path}: exactly one entry"
    );
    let entry = entries.last().unwrap().clone();
    assert_eq!(entry["action"], action, "{method} {path}: {entry}");
    assert_eq!(
        entry["actor"],
        json!({"kind": "token", "id": 1, "name": "bootstrap"})
    );
    assert_eq!(entry["user_agent"], "audit-test/1.0");
    assert_eq!(entry["source"], "127.0.0.1");
    assert!(entry["request_id"].as_str().is_some_and(|r| !r.is_empty()));
    entry
}

fn change<'e>(entry: &'e Value, kind: &str) -> &'e Value {
    entry["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} change in {entry}"))
}

fn diff_paths(change: &Value) -> Vec<String> {
    change["diff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["path"].as_str().unwrap().to_owned())
        .collect()
}

/// A step: a call and the action of the one entry it must add.
type Step = (Method, &'static str, Option<Value>, &'static str);

/// Runs steps whose entries need no closer look than their action and actor.
async fn steps(server: &Server, steps: Vec<Step>) {
    for (method, path, body, action) in steps {
        one_entry(server, method, path, body, action).await;
    }
}

#[tokio::test]
async fn every_mutation_writes_one_entry_with_before_and_after() {
    let server = Server::start();
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/projects",
        Some(json!({"name": "Web"})),
        "project.created",
    )
    .await;
    assert_eq!(change(&e, "project")["before"], Value::Null);
    assert_eq!(change(&e, "project")["after"]["name"], "Web");
    assert_eq!(e["project_id"], 1);
    let e = one_entry(
        &server,
        Method::PATCH,
        "/admin/v1/projects/1",
        Some(json!({"name": "Website"})),
        "project.updated",
    )
    .await;
    assert_eq!(
        change(&e, "project")["diff"],
        json!([{"path": "/name", "before": "Web", "after": "Website"}])
    );
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/projects/1/environments",
        Some(json!({"name": "Production"})),
        "environment.created",
    )
    .await;
    assert_eq!(e["environment_id"], 1);
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/projects/1/features",
        Some(json!({"name": "banner", "initial_value": "hi"})),
        "feature.created",
    )
    .await;
    assert_eq!(change(&e, "feature")["after"]["name"], "banner");
    assert!(
        change(&e, "feature_state")["before"].is_null(),
        "the new default state is recorded too"
    );
    let e = one_entry(
        &server,
        Method::PATCH,
        "/admin/v1/environments/1/features/1/state",
        Some(json!({"enabled": true, "value": "hello"})),
        "feature_state.updated",
    )
    .await;
    assert_eq!(
        diff_paths(change(&e, "feature_state")),
        vec!["/enabled", "/value/String"]
    );
    assert_eq!(e["environment_id"], 1);
    let rules = |value: &str| json!([{"type": "ALL", "conditions": [{"property": "plan", "operator": "EQUAL", "value": value}]}]);
    steps(
        &server,
        vec![
            (
                Method::PATCH,
                "/admin/v1/environments/1",
                Some(json!({"settings": {"allow_client_traits": false}})),
                "environment.updated",
            ),
            (
                Method::PATCH,
                "/admin/v1/features/1",
                Some(json!({"description": "the top banner"})),
                "feature.updated",
            ),
            (
                Method::POST,
                "/admin/v1/projects/1/segments",
                Some(json!({"name": "pros", "rules": rules("pro")})),
                "segment.created",
            ),
            (
                Method::POST,
                "/admin/v1/projects/1/segments",
                Some(json!({"name": "beta", "rules": []})),
                "segment.created",
            ),
        ],
    )
    .await;
    // A rule tree's change is a structured diff down to the condition.
    let e = one_entry(
        &server,
        Method::PATCH,
        "/admin/v1/segments/1",
        Some(json!({"rules": rules("max")})),
        "segment.updated",
    )
    .await;
    assert_eq!(
        change(&e, "segment")["diff"],
        json!([{"path": "/rules/0/conditions/0/value", "before": "pro", "after": "max"}])
    );
    steps(
        &server,
        vec![
            (
                Method::PUT,
                "/admin/v1/environments/1/features/1/segment-overrides/1",
                Some(json!({"enabled": true})),
                "segment_override.set",
            ),
            (
                Method::PUT,
                "/admin/v1/environments/1/features/1/segment-overrides/2",
                Some(json!({"enabled": false})),
                "segment_override.set",
            ),
        ],
    )
    .await;
    let e = one_entry(
        &server,
        Method::PUT,
        "/admin/v1/environments/1/features/1/segment-overrides",
        Some(json!({"segment_ids": [2, 1]})),
        "segment_override.reordered",
    )
    .await;
    let priorities: Vec<Value> = e["changes"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|c| c["diff"].as_array().unwrap().clone())
        .collect();
    assert_eq!(priorities.len(), 2, "both overrides moved: {e}");
    assert!(
        priorities
            .iter()
            .all(|d| d["path"] == "/target/Segment/priority"),
        "{priorities:?}"
    );
    steps(
        &server,
        vec![
            (
                Method::DELETE,
                "/admin/v1/environments/1/features/1/segment-overrides/2",
                None,
                "segment_override.deleted",
            ),
            (
                Method::PUT,
                "/admin/v1/environments/1/identities/alice/traits",
                Some(json!({"traits": {"plan": "pro"}})),
                "identity.traits_set",
            ),
            (
                Method::PUT,
                "/admin/v1/environments/1/identities/alice/overrides/1",
                Some(json!({"enabled": false})),
                "identity_override.set",
            ),
            (
                Method::DELETE,
                "/admin/v1/environments/1/identities/alice/overrides/1",
                None,
                "identity_override.deleted",
            ),
            (
                Method::DELETE,
                "/admin/v1/environments/1/identities/alice",
                None,
                "identity.deleted",
            ),
        ],
    )
    .await;
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/environments/1/server-keys",
        Some(json!({"name": "backend"})),
        "server_key.created",
    )
    .await;
    assert!(
        change(&e, "server_key")["after"].get("key_hash").is_none(),
        "no hash: {e}"
    );
    steps(
        &server,
        vec![
            (
                Method::POST,
                "/admin/v1/server-keys/1/rotate",
                Some(json!({"old_expires_in": "1h"})),
                "server_key.rotated",
            ),
            (
                Method::DELETE,
                "/admin/v1/server-keys/1",
                None,
                "server_key.revoked",
            ),
            (
                Method::PATCH,
                "/admin/v1/organisation",
                Some(json!({"name": "Acme"})),
                "organisation.updated",
            ),
        ],
    )
    .await;
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/users",
        Some(json!({"email": "ann@example.com", "name": "Ann", "password": "initial password 1"})),
        "user.created",
    )
    .await;
    assert!(change(&e, "user")["after"].get("password_hash").is_none());
    steps(
        &server,
        vec![
            (
                Method::PATCH,
                "/admin/v1/users/1",
                Some(json!({"name": "Annie"})),
                "user.updated",
            ),
            (
                Method::POST,
                "/admin/v1/users/1/reset-password",
                Some(json!({})),
                "user.password_reset",
            ),
            (
                Method::POST,
                "/admin/v1/teams",
                Some(json!({"name": "Ops"})),
                "team.created",
            ),
            (
                Method::PUT,
                "/admin/v1/teams/1/members/1",
                None,
                "team.member_added",
            ),
            (
                Method::DELETE,
                "/admin/v1/teams/1/members/1",
                None,
                "team.member_removed",
            ),
            (
                Method::PATCH,
                "/admin/v1/teams/1",
                Some(json!({"name": "SRE"})),
                "team.updated",
            ),
            (
                Method::POST,
                "/admin/v1/roles",
                Some(json!({"name": "flipper", "permissions": ["UPDATE_FEATURE_STATE"]})),
                "role.created",
            ),
            (
                Method::PATCH,
                "/admin/v1/roles/1",
                Some(json!({"permissions": ["UPDATE_FEATURE_STATE", "VIEW_ENVIRONMENT"]})),
                "role.updated",
            ),
        ],
    )
    .await;
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/grants",
        Some(json!({"team_id": 1, "role": "flipper", "environment_id": 1})),
        "grant.created",
    )
    .await;
    assert_eq!(
        change(&e, "grant")["after"]["scope"],
        json!({"Environment": 1})
    );
    steps(
        &server,
        vec![
            (Method::DELETE, "/admin/v1/grants/1", None, "grant.deleted"),
            (Method::DELETE, "/admin/v1/roles/1", None, "role.deleted"),
            (Method::DELETE, "/admin/v1/teams/1", None, "team.deleted"),
        ],
    )
    .await;
    let e = one_entry(
        &server,
        Method::POST,
        "/admin/v1/tokens",
        Some(json!({"name": "ci", "role": "viewer"})),
        "token.created",
    )
    .await;
    assert!(change(&e, "token")["after"].get("token_hash").is_none());
    steps(
        &server,
        vec![
            (
                Method::POST,
                "/admin/v1/tokens/2/rotate",
                Some(json!({})),
                "token.rotated",
            ),
            (Method::DELETE, "/admin/v1/tokens/3", None, "token.revoked"),
            (Method::DELETE, "/admin/v1/users/1", None, "user.deleted"),
            (
                Method::DELETE,
                "/admin/v1/features/1",
                None,
                "feature.deleted",
            ),
            (
                Method::DELETE,
                "/admin/v1/segments/2",
                None,
                "segment.deleted",
            ),
            (
                Method::DELETE,
                "/admin/v1/environments/1/identities",
                None,
                "identity.deleted_all",
            ),
            (
                Method::DELETE,
                "/admin/v1/environments/1",
                None,
                "environment.deleted",
            ),
            (
                Method::DELETE,
                "/admin/v1/projects/1",
                None,
                "project.deleted",
            ),
        ],
    )
    .await;

    // SDK trait writes are counted, never audited per call.
    let admin_entries = audit(&server).await.len();
    let env = admin_post(&server, "/admin/v1/projects", json!({"name": "Sdk"})).await;
    let (_, _, env) = call(
        &server,
        &Auth::admin(),
        Method::POST,
        &format!("/admin/v1/projects/{}/environments", env["id"]),
        Some(&json!({"name": "Live"})),
    )
    .await;
    let client_key = env["client_key"].as_str().unwrap();
    for n in 0..5 {
        let (status, _) = identify(
            &server,
            client_key,
            &format!("user-{n}"),
            json!([{"trait_key": "plan", "trait_value": "pro"}]),
        )
        .await;
        assert_eq!(status, 200);
    }
    assert_eq!(audit(&server).await.len(), admin_entries + 2);
    assert_eq!(
        metric(&server, "burgee_sdk_trait_writes_total").await,
        Some(5.0)
    );
    // The chain verifies and its head is the last entry's hash.
    let (_, _, verified) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/audit/verify",
        None,
    )
    .await;
    assert_eq!(verified["ok"], true, "{verified}");
    assert_eq!(
        verified["verification"]["head"],
        audit(&server).await.last().unwrap()["hash"]
    );
}

#[tokio::test]
async fn filters_and_pages() {
    let server = Server::start();
    for name in ["A", "B", "C"] {
        admin_post(&server, "/admin/v1/projects", json!({"name": name})).await;
    }
    admin_post(
        &server,
        "/admin/v1/projects/2/environments",
        json!({"name": "Live"}),
    )
    .await;
    let page = |query: &'static str| {
        let server = &server;
        async move {
            let (status, _, body) = call(
                server,
                &Auth::admin(),
                Method::GET,
                &format!("/admin/v1/audit?{query}"),
                None,
            )
            .await;
            assert_eq!(status, 200, "{query}: {body}");
            body
        }
    };
    assert_eq!(
        page("action=project.created").await["items"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(
        page("action=environment.").await["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        page("project_id=2").await["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        page("actor=bootstrap&target=(B)").await["items"][0]["target"],
        "project 2 (B)"
    );
    assert_eq!(
        page("actor=token:1").await["items"]
            .as_array()
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        page("until=2000-01-01T00:00:00Z").await["items"]
            .as_array()
            .unwrap()
            .len(),
        0
    );
    let first = page("limit=2").await;
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let cursor = first["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, rest) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        &format!("/admin/v1/audit?limit=2&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(
        rest["items"][0]["seq"].as_u64().unwrap(),
        first["items"][1]["seq"].as_u64().unwrap() + 1
    );
    for bad in ["since=yesterday", "limit=0", "cursor=zzz", "unknown=1"] {
        let (status, _, body) = call(
            &server,
            &Auth::admin(),
            Method::GET,
            &format!("/admin/v1/audit?{bad}"),
            None,
        )
        .await;
        assert_eq!(status, 400, "{bad}: {body}");
    }
    // A project-scoped editor sees that project's entries only.
    let id = user(&server, "pam@example.com", PASSWORD).await;
    common::access::grant(&server, id, "editor", json!({"project_id": 2})).await;
    let pam = Auth::Bearer(login(&server, "pam@example.com", PASSWORD).await);
    let (status, _, seen) = call(&server, &pam, Method::GET, "/admin/v1/audit", None).await;
    assert_eq!(status, 200);
    let projects: Vec<Value> = seen["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["project_id"].clone())
        .collect();
    assert_eq!(projects, vec![json!(2), json!(2)], "{seen}");
}

#[tokio::test]
async fn an_edited_entry_in_the_file_is_found_by_offline_verification() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_in(&data_dir, &["--bootstrap-token", TOKEN]);
    for n in 0..5 {
        let agent = if n == 3 {
            "TAMPER-ME-0123456789"
        } else {
            "honest-agent"
        };
        let (status, _, _) = call_with(
            &server,
            &Auth::admin(),
            Method::POST,
            "/admin/v1/projects",
            Some(&json!({"name": format!("P{n}")})),
            &[("user-agent", agent)],
        )
        .await;
        assert_eq!(status, 201);
    }
    let entries = audit(&server).await;
    let target = entries
        .iter()
        .find(|e| e["user_agent"] == "TAMPER-ME-0123456789")
        .unwrap()["seq"]
        .as_u64()
        .unwrap();
    let (_, headers, export) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/audit/export",
        None,
    )
    .await;
    let head = headers["x-burgee-audit-head"].to_str().unwrap().to_owned();
    let _ = export;
    server.terminate();
    let burgee = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_burgee"))
            .args(args)
            .arg("--data-dir")
            .arg(&data_dir)
            .output()
            .unwrap()
    };
    let clean = burgee(&["audit", "verify", "--offline", "--output", "json"]);
    assert!(
        clean.status.success(),
        "{}",
        String::from_utf8_lossy(&clean.stderr)
    );
    let clean: Value = serde_json::from_slice(&clean.stdout).unwrap();
    assert_eq!(clean["ok"], true);
    assert_eq!(
        format!(
            "{}:{}",
            clean["verification"]["last_seq"],
            clean["verification"]["head"].as_str().unwrap()
        ),
        head
    );

    // Someone who can write the file changes one entry's bytes.
    let path = data_dir.join("state.redb");
    let mut bytes = std::fs::read(&path).unwrap();
    let needle = b"TAMPER-ME-0123456789";
    let mut edited = 0;
    for at in 0..bytes.len().saturating_sub(needle.len()) {
        if &bytes[at..at + needle.len()] == needle {
            bytes[at..at + needle.len()].copy_from_slice(b"innocent-agent-00000");
            edited += 1;
        }
    }
    assert!(edited >= 1, "the entry is in the file");
    std::fs::write(&path, bytes).unwrap();
    let broken = burgee(&["audit", "verify", "--offline", "--output", "json"]);
    assert_eq!(
        broken.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&broken.stderr)
    );
    let broken: Value = serde_json::from_slice(&broken.stdout).unwrap();
    assert_eq!(broken["ok"], false);
    assert_eq!(
        broken["verification"]["first_bad"]["seq"].as_u64(),
        Some(target),
        "{broken}"
    );
}

#[tokio::test]
async fn retention_prunes_old_entries_and_leaves_a_checkpoint() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_in(&data_dir, &["--bootstrap-token", TOKEN]);
    for n in 0..4 {
        admin_post(
            &server,
            "/admin/v1/projects",
            json!({"name": format!("Old {n}")}),
        )
        .await;
    }
    let before = audit(&server).await;
    server.terminate();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    // Retention is applied at start (and hourly after).
    let server = Server::start_in(&data_dir, &["--audit-retention", "1s"]);
    let mut entries = Vec::new();
    for _ in 0..100 {
        entries = audit(&server).await;
        if entries.iter().any(|e| e["action"] == "audit.pruned") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(entries.len(), 1, "{entries:?}");
    let checkpoint = &entries[0];
    assert_eq!(checkpoint["action"], "audit.pruned");
    assert_eq!(
        checkpoint["detail"]["count"].as_u64(),
        Some(before.len() as u64)
    );
    assert_eq!(
        checkpoint["detail"]["pruned_through_hash"],
        before.last().unwrap()["hash"]
    );
    assert_eq!(
        checkpoint["prev_hash"],
        before.last().unwrap()["hash"],
        "the chain goes on from the pruned head"
    );
    let (_, _, verified) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/audit/verify",
        None,
    )
    .await;
    assert_eq!(verified["ok"], true, "{verified}");
}

#[tokio::test]
async fn secrets_never_reach_logs_or_later_answers() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let log = temp.path().join("server.log");
    let server = Server::start_logged(
        &data_dir,
        &["--bootstrap-token", TOKEN, "--log-format", "json"],
        &log,
    );
    let admin = Auth::admin();
    let mut secrets = vec![
        TOKEN.to_owned(),
        PASSWORD.to_owned(),
        "initial password 7".to_owned(),
    ];
    admin_post(&server, "/admin/v1/projects", json!({"name": "Web"})).await;
    admin_post(
        &server,
        "/admin/v1/projects/1/environments",
        json!({"name": "Live"}),
    )
    .await;
    let key = admin_post(
        &server,
        "/admin/v1/environments/1/server-keys",
        json!({"name": "k"}),
    )
    .await;
    secrets.push(key["key"].as_str().unwrap().to_owned());
    let token = admin_post(
        &server,
        "/admin/v1/tokens",
        json!({"name": "ci", "role": "viewer"}),
    )
    .await;
    secrets.push(token["token"].as_str().unwrap().to_owned());
    let invited = admin_post(
        &server,
        "/admin/v1/users",
        json!({"email": "inv@example.com", "name": "Inv"}),
    )
    .await;
    secrets.push(invited["invite"]["token"].as_str().unwrap().to_owned());
    user(&server, "sec@example.com", PASSWORD).await;
    let session = login(&server, "sec@example.com", PASSWORD).await;
    secrets.push(session.clone());
    let (_, headers, cookie_login) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "sec@example.com", "password": PASSWORD})),
    )
    .await;
    let cookie = session_cookie(&headers);
    secrets.push(cookie_secret(&cookie));
    secrets.push(cookie_login["csrf_token"].as_str().unwrap().to_owned());
    let (_, _, personal) = call(
        &server,
        &Auth::Bearer(session),
        Method::POST,
        "/admin/v1/auth/tokens",
        Some(&json!({"name": "mine"})),
    )
    .await;
    secrets.push(personal["token"].as_str().unwrap().to_owned());
    // A failed login with a password as the e-mail address, and a bad token, are logged
    // without either.
    call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "sec@example.com", "password": "initial password 7"})),
    )
    .await;
    call(
        &server,
        &Auth::Bearer("initial password 7".into()),
        Method::GET,
        "/admin/v1/projects",
        None,
    )
    .await;

    // Later answers: lists, reads, the audit log and its export.
    let mut answers = String::new();
    for path in [
        "/admin/v1/tokens",
        "/admin/v1/users",
        "/admin/v1/environments/1/server-keys",
        "/admin/v1/audit?limit=500",
        "/admin/v1/audit/export",
        "/admin/v1/audit/export?format=csv",
        "/admin/v1/auth/whoami",
    ] {
        let (status, _, body) = call(&server, &admin, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}");
        answers.push_str(&body.to_string());
    }
    server.terminate();
    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(logged.lines().count() > 3, "the server logged: {logged}");
    for secret in &secrets {
        assert!(!logged.contains(secret.as_str()), "a secret is in the log");
        assert!(
            !answers.contains(secret.as_str()),
            "a secret is in a later answer"
        );
    }
    let setup_dir = temp.path().join("setup");
    let server = Server::start_logged(&setup_dir, &[], &temp.path().join("setup.log"));
    let setup_token = std::fs::read_to_string(setup_dir.join("setup-token")).unwrap();
    server.terminate();
    assert!(
        !std::fs::read_to_string(temp.path().join("setup.log"))
            .unwrap()
            .contains(setup_token.trim())
    );
}
