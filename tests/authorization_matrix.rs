//! The authorisation matrix, generated from the route table: every admin route × every kind
//! of caller. Allowed → the route's answer (2xx for the first allowed caller on a fresh copy
//! of the fixture; never 401 or 403 for the others, which may meet what the first changed);
//! a valid credential without the permission → 403 with no state change but its audit
//! entry (every admin read compared before and after); no, unknown, revoked, expired or
//! deactivated credentials and environment keys → 401.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

#[path = "authorization_matrix/bodies.rs"]
mod bodies;
mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bodies::body;
use burgee::api::auth::routes::{Need, ROUTES};
use common::access::{Auth, call, grant, login, user};
use common::server::Server;
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "matrix password 1";
/// A learner the membership routes add and remove; no node runs there.
const LEARNER: u64 = 7;
const UNREACHABLE_NODE: &str = "http://127.0.0.1:9";

/// The roles as the issue defines them (kept here, apart from the code under test).
const EDITOR: &[&str] = &[
    "VIEW_PROJECT",
    "CREATE_FEATURE",
    "EDIT_FEATURE",
    "DELETE_FEATURE",
    "MANAGE_SEGMENTS",
    "VIEW_PROJECT_AUDIT_LOG",
    "VIEW_ENVIRONMENT",
    "UPDATE_FEATURE_STATE",
    "MANAGE_SEGMENT_OVERRIDES",
    "VIEW_IDENTITIES",
    "MANAGE_IDENTITIES",
];
const VIEWER: &[&str] = &["VIEW_PROJECT", "VIEW_ENVIRONMENT", "VIEW_IDENTITIES"];
const ENVIRONMENT_LEVEL: &[&str] = &[
    "VIEW_ENVIRONMENT",
    "MANAGE_ENVIRONMENT",
    "UPDATE_FEATURE_STATE",
    "MANAGE_SEGMENT_OVERRIDES",
    "VIEW_IDENTITIES",
    "MANAGE_IDENTITIES",
    "MANAGE_SERVER_KEYS",
];

/// The kinds of caller, narrowest grant first (so a scoped caller meets the fixture's
/// targets before a wider one deletes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    EnvironmentEditor,
    ProjectEditor,
    Viewer,
    Editor,
    AdminUser,
    AdminToken,
    Deactivated,
    Revoked,
    Expired,
    ServerKey,
    ClientKey,
    Unknown,
    Anonymous,
}

enum Expect {
    Allowed,
    Forbidden,
    Unauthenticated,
}

fn expect(kind: Kind, need: Need) -> Expect {
    use Kind::*;
    let (permission, project_level_target) = match need {
        Need::Public => unreachable!(),
        Need::Signed => (None, false),
        Need::Organisation(p) => (Some((p.key(), "organisation")), false),
        Need::Anywhere(p) => (Some((p.key(), "anywhere")), false),
        Need::Project(p, _) | Need::FeatureProject(p, _) | Need::SegmentProject(p, _) => {
            (Some((p.key(), "project")), true)
        }
        Need::Environment(p, _) | Need::KeyEnvironment(p, _) => {
            (Some((p.key(), "environment")), false)
        }
    };
    let _ = project_level_target;
    let allowed = match kind {
        Deactivated | Revoked | Expired | ServerKey | ClientKey | Unknown | Anonymous => {
            return Expect::Unauthenticated;
        }
        AdminUser | AdminToken => true,
        _ if permission.is_none() => true,
        Editor | Viewer => {
            let set = if kind == Editor { EDITOR } else { VIEWER };
            permission.is_some_and(|(p, _)| set.contains(&p))
        }
        ProjectEditor => {
            permission.is_some_and(|(p, at)| at != "organisation" && EDITOR.contains(&p))
        }
        EnvironmentEditor => permission.is_some_and(|(p, at)| match at {
            "organisation" => false,
            "project" => p == "VIEW_PROJECT",
            _ => (EDITOR.contains(&p) && ENVIRONMENT_LEVEL.contains(&p)) || p == "VIEW_PROJECT",
        }),
    };
    if allowed {
        Expect::Allowed
    } else {
        Expect::Forbidden
    }
}

/// What the fixture made: credentials and the ids routes act on.
struct Fixture {
    credentials: BTreeMap<Kind, Auth>,
    passwords: BTreeMap<Kind, String>,
    ids: BTreeMap<&'static str, u64>,
    document: Value,
}

async fn build_fixture(server: &Server) -> Fixture {
    let admin = Auth::admin();
    let post = |path: &'static str, body: Value| {
        let admin = admin.clone();
        async move {
            let (status, _, answer) = call(server, &admin, Method::POST, path, Some(&body)).await;
            assert!(status == 201 || status == 200, "{path}: {answer}");
            answer
        }
    };
    let mut ids = BTreeMap::new();
    post("/admin/v1/projects", json!({"name": "Web"})).await;
    let staging = post(
        "/admin/v1/projects/1/environments",
        json!({"name": "Staging"}),
    )
    .await;
    post(
        "/admin/v1/projects/1/environments",
        json!({"name": "Production"}),
    )
    .await;
    post("/admin/v1/projects", json!({"name": "Other"})).await;
    post(
        "/admin/v1/projects/2/environments",
        json!({"name": "Elsewhere"}),
    )
    .await;
    post("/admin/v1/projects/1/features", json!({"name": "banner"})).await;
    post("/admin/v1/projects/1/segments", json!({"name": "pros", "rules": [{"type": "ALL", "conditions": [{"property": "plan", "operator": "EQUAL", "value": "pro"}]}]})).await;
    let (status, _, _) = call(
        server,
        &admin,
        Method::PUT,
        "/admin/v1/environments/1/features/1/segment-overrides/1",
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        server,
        &admin,
        Method::PUT,
        "/admin/v1/environments/1/identities/alice/traits",
        Some(&json!({"traits": {"plan": "pro"}})),
    )
    .await;
    assert_eq!(status, 200);
    let (status, _, _) = call(
        server,
        &admin,
        Method::PUT,
        "/admin/v1/environments/1/identities/alice/overrides/1",
        Some(&json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200);
    let key = post(
        "/admin/v1/environments/1/server-keys",
        json!({"name": "sdk"}),
    )
    .await;

    let mut credentials = BTreeMap::new();
    let mut passwords = BTreeMap::new();
    let people = [
        (Kind::AdminUser, "admin@example.com", "admin", json!({})),
        (Kind::Editor, "editor@example.com", "editor", json!({})),
        (Kind::Viewer, "viewer@example.com", "viewer", json!({})),
        (
            Kind::ProjectEditor,
            "project@example.com",
            "editor",
            json!({"project_id": 1}),
        ),
        (
            Kind::EnvironmentEditor,
            "environment@example.com",
            "editor",
            json!({"environment_id": 1}),
        ),
        (Kind::Deactivated, "gone@example.com", "admin", json!({})),
    ];
    for (kind, email, role, scope) in people {
        let id = user(server, email, PASSWORD).await;
        grant(server, id, role, scope).await;
        ids.insert(email, id);
        credentials.insert(kind, Auth::Bearer(login(server, email, PASSWORD).await));
        passwords.insert(kind, PASSWORD.to_owned());
    }
    // The deactivated user's personal token, made while they were active.
    let (_, _, personal) = call(
        server,
        &credentials[&Kind::Deactivated],
        Method::POST,
        "/admin/v1/auth/tokens",
        Some(&json!({"name": "old laptop"})),
    )
    .await;
    credentials.insert(
        Kind::Deactivated,
        Auth::Bearer(personal["token"].as_str().unwrap().to_owned()),
    );
    let gone = ids["gone@example.com"];
    let (status, _, _) = call(
        server,
        &admin,
        Method::PATCH,
        &format!("/admin/v1/users/{gone}"),
        Some(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200);
    // Targets of the people routes.
    let subject = user(server, "subject@example.com", PASSWORD).await;
    ids.insert("subject", subject);
    post("/admin/v1/teams", json!({"name": "Ops"})).await;
    let (status, _, _) = call(
        server,
        &admin,
        Method::PUT,
        &format!("/admin/v1/teams/1/members/{subject}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let role = post(
        "/admin/v1/roles",
        json!({"name": "flipper", "permissions": ["UPDATE_FEATURE_STATE"]}),
    )
    .await;
    ids.insert("role", role["id"].as_u64().unwrap());
    let subject_grant = post(
        "/admin/v1/grants",
        json!({"user_id": subject, "role": "viewer", "project_id": 2}),
    )
    .await;
    ids.insert("grant", subject_grant["id"].as_u64().unwrap());
    let victim = post(
        "/admin/v1/tokens",
        json!({"name": "victim", "role": "viewer"}),
    )
    .await;
    ids.insert("token", victim["id"].as_u64().unwrap());
    let (_, _, mine) = call(
        server,
        &credentials[&Kind::AdminUser],
        Method::POST,
        "/admin/v1/auth/tokens",
        Some(&json!({"name": "mine"})),
    )
    .await;
    ids.insert("personal", mine["id"].as_u64().unwrap());
    let revoked = post(
        "/admin/v1/tokens",
        json!({"name": "revoked", "role": "admin"}),
    )
    .await;
    let (status, _, _) = call(
        server,
        &admin,
        Method::DELETE,
        &format!("/admin/v1/tokens/{}", revoked["id"]),
        None,
    )
    .await;
    assert_eq!(status, 204);
    credentials.insert(
        Kind::Revoked,
        Auth::Bearer(revoked["token"].as_str().unwrap().to_owned()),
    );
    let expired = post(
        "/admin/v1/tokens",
        json!({"name": "expired", "role": "admin", "expires_in": "1s"}),
    )
    .await;
    credentials.insert(
        Kind::Expired,
        Auth::Bearer(expired["token"].as_str().unwrap().to_owned()),
    );
    credentials.insert(Kind::AdminToken, admin.clone());
    credentials.insert(
        Kind::ServerKey,
        Auth::Bearer(key["key"].as_str().unwrap().to_owned()),
    );
    credentials.insert(
        Kind::ClientKey,
        Auth::Bearer(staging["client_key"].as_str().unwrap().to_owned()),
    );
    credentials.insert(
        Kind::Unknown,
        Auth::Bearer("bgt_no-such-token-anywhere-at-all".into()),
    );
    credentials.insert(Kind::Anonymous, Auth::None);
    let (_, _, document) = call(
        server,
        &admin,
        Method::GET,
        "/admin/v1/environments/1/document",
        None,
    )
    .await;
    // The end of the fixture's audit log: rollbacks restore states as they were there.
    ids.insert("audit_head", audit_length(server).await);
    Fixture {
        credentials,
        passwords,
        ids,
        document,
    }
}

/// The route's path with the fixture's ids.
fn concrete(path: &str, method: &str, fixture: &Fixture) -> String {
    let id = |k: &str| fixture.ids[k].to_string();
    let first = if path.starts_with("/admin/v1/users/") {
        id("subject")
    } else if path.starts_with("/admin/v1/roles/") {
        id("role")
    } else if path.starts_with("/admin/v1/grants/") {
        id("grant")
    } else if path.starts_with("/admin/v1/tokens/") {
        id("token")
    } else if path.starts_with("/admin/v1/auth/tokens/") {
        id("personal")
    } else if path.starts_with("/admin/v1/cluster/members/") {
        LEARNER.to_string()
    } else {
        "1".into()
    };
    let member = if method == "put" {
        id("editor@example.com")
    } else {
        id("subject")
    };
    path.replace("{id}", &first)
        .replace("{feature_id}", "1")
        .replace("{segment_id}", "1")
        .replace("{other_id}", "1")
        .replace("{identifier}", "alice")
        .replace("{user_id}", &member)
}

/// Every admin read, as the admin token sees it, without fields that record use.
async fn snapshot(server: &Server, fixture: &Fixture) -> Vec<(String, u16, Value)> {
    let mut reads = Vec::new();
    for (method, path, _) in ROUTES {
        // A backup is a read of everything that is itself audited: not a state to compare.
        if *method != "get"
            || path.contains("/audit")
            || path.ends_with("/whoami")
            || *path == "/admin/v1/backup"
        {
            continue;
        }
        let concrete = concrete(path, method, fixture);
        let (status, _, mut value) =
            call(server, &Auth::admin(), Method::GET, &concrete, None).await;
        strip(&mut value);
        reads.push((concrete, status, value));
    }
    // The cluster's membership, which the membership routes change.
    let (status, _, cluster) =
        call(server, &Auth::None, Method::GET, "/health/cluster", None).await;
    reads.push(("/health/cluster".into(), status, cluster["members"].clone()));
    reads
}

fn strip(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.remove("last_used_at");
            map.remove("last_seen_at");
            map.values_mut().for_each(strip);
        }
        Value::Array(items) => items.iter_mut().for_each(strip),
        _ => {}
    }
}

async fn audit_length(server: &Server) -> u64 {
    let (status, _, answer) = call(
        server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/audit/verify",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["ok"], true, "{answer}");
    answer["verification"]["entries"].as_u64().unwrap()
}

fn copy_store(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::copy(from.join("state.redb"), to.join("state.redb")).unwrap();
}

#[tokio::test]
async fn every_admin_route_for_every_kind_of_caller() {
    let fixture_dir = tempfile::tempdir().unwrap();
    let data = fixture_dir.path().join("fixture");
    let server = Server::start_in(&data, &["--bootstrap-token", common::server::TOKEN]);
    let fixture = build_fixture(&server).await;
    let (status, _) = server.terminate();
    assert!(status.success());
    // The expired token's second has passed by now; make sure.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    let mut cells = 0;
    let mut counts = BTreeMap::<&str, usize>::new();
    let mut n = 0;
    for (method, path, need) in ROUTES {
        if *need == Need::Public {
            continue;
        }
        let copy = tempfile::tempdir().unwrap();
        copy_store(&data, copy.path());
        // A cluster of one, so membership routes can succeed too.
        let listen = format!("127.0.0.1:{}", common::cluster::free_port());
        let server = Server::start_in(
            copy.path(),
            &[
                "--cluster-listen",
                &listen,
                "--cluster-secret",
                common::cluster::SECRET,
            ],
        );
        if path.starts_with("/admin/v1/cluster/members/") {
            // Something to remove.
            let learner = json!({"id": LEARNER, "url": UNREACHABLE_NODE, "learner": true});
            let (status, _, answer) = call(
                &server,
                &fixture.credentials[&Kind::AdminToken],
                Method::POST,
                "/admin/v1/cluster/members",
                Some(&learner),
            )
            .await;
            assert_eq!(status, 200, "{answer}");
        }
        let target = concrete(path, method, &fixture);
        let http_method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let before = snapshot(&server, &fixture).await;
        let audit_before = audit_length(&server).await;
        let mut forbidden = 0;
        let mut allowed = Vec::new();
        for (kind, auth) in &fixture.credentials {
            let expected = expect(*kind, *need);
            if matches!(expected, Expect::Allowed) {
                allowed.push(*kind);
                continue;
            }
            n += 1;
            let (status, _, answer) = call(
                &server,
                auth,
                http_method.clone(),
                &target,
                body(method, path, n, &fixture, *kind).as_ref(),
            )
            .await;
            cells += 1;
            match expected {
                Expect::Forbidden => {
                    assert_eq!(
                        (status, answer["error"]["code"].as_str()),
                        (403, Some("forbidden")),
                        "{kind:?} {method} {path}: {answer}"
                    );
                    forbidden += 1;
                    *counts.entry("403").or_default() += 1;
                }
                Expect::Unauthenticated => {
                    assert_eq!(status, 401, "{kind:?} {method} {path}: {answer}");
                    *counts.entry("401").or_default() += 1;
                }
                Expect::Allowed => unreachable!(),
            }
        }
        assert_eq!(
            snapshot(&server, &fixture).await,
            before,
            "a refused {method} {path} changed state"
        );
        assert_eq!(
            audit_length(&server).await,
            audit_before + forbidden,
            "{method} {path}: one audit entry per 403"
        );
        let mut succeeded = false;
        let mut answers = Vec::new();
        for kind in allowed {
            n += 1;
            let (status, _, answer) = call(
                &server,
                &fixture.credentials[&kind],
                http_method.clone(),
                &target,
                body(method, path, n, &fixture, kind).as_ref(),
            )
            .await;
            cells += 1;
            *counts.entry("allowed").or_default() += 1;
            assert!(
                status != 401 && status != 403 && status < 500,
                "{kind:?} {method} {path}: {status} {answer}"
            );
            succeeded |= (200..300).contains(&status);
            answers.push((kind, status, answer));
        }
        assert!(
            succeeded,
            "{method} {path}: no allowed caller succeeded: {answers:?}"
        );
    }
    eprintln!("authorisation matrix: {cells} cells ({counts:?})");
    assert!(cells > 900, "{cells}");
}
