//! `burgee users|teams|roles|grants|tokens|keys|audit` against a real server.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::server::{Server, TOKEN};
use serde_json::Value;

/// Runs the CLI with the admin token and `stdin`; (exit code, stdout, stderr).
fn burgee(server: &Server, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(args)
        .env("BURGEE_URL", &server.base)
        .env("BURGEE_TOKEN", TOKEN)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .as_mut()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn json_of(server: &Server, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.extend(["--output", "json"]);
    let (code, stdout, stderr) = burgee(server, &all, "");
    assert_eq!(code, 0, "{args:?}: {stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
}

#[tokio::test]
async fn people_roles_grants_and_tokens_from_the_command_line() {
    let server = Server::start();
    json_of(&server, &["projects", "create", "Web"]);
    let env = json_of(
        &server,
        &["environments", "create", "--project", "Web", "Staging"],
    );
    let client_key = env["client_key"].as_str().unwrap().to_owned();

    // A user with an initial password from stdin, and one invited.
    let (code, out, err) = burgee(
        &server,
        &[
            "users",
            "create",
            "kim@example.com",
            "--name",
            "Kim",
            "--password-stdin",
            "--output",
            "json",
        ],
        "kim's first password\n",
    );
    assert_eq!(code, 0, "{err}");
    let kim: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(kim["must_change_password"], true);
    let (code, out, _) = burgee(&server, &["users", "create", "lee@example.com"], "");
    assert_eq!(code, 0);
    assert!(out.contains("invitation token (shown once"), "{out}");
    let users = json_of(&server, &["users", "list"]);
    assert_eq!(users.as_array().unwrap().len(), 2);

    json_of(&server, &["teams", "create", "Ops"]);
    let team = json_of(&server, &["teams", "add-member", "Ops", "kim@example.com"]);
    assert_eq!(team["members"], serde_json::json!([kim["id"]]));
    let role = json_of(
        &server,
        &[
            "roles",
            "create",
            "flipper",
            "--permissions",
            "VIEW_ENVIRONMENT,UPDATE_FEATURE_STATE",
        ],
    );
    assert_eq!(
        role["permissions"],
        serde_json::json!(["VIEW_ENVIRONMENT", "UPDATE_FEATURE_STATE"])
    );
    let grant = json_of(
        &server,
        &[
            "grants",
            "create",
            "--team",
            "Ops",
            "--role",
            "flipper",
            "--environment",
            &client_key,
        ],
    );
    assert_eq!(grant["environment_id"], env["id"]);
    let grants = json_of(&server, &["grants", "list", "--team", "Ops"]);
    assert_eq!(grants.as_array().unwrap().len(), 1);
    let (code, _, err) = burgee(&server, &["roles", "delete", "flipper"], "");
    assert_ne!(code, 0, "a role in use is not deleted");
    assert!(err.contains("in use"), "{err}");

    // A token scoped to one project: printed once, listed without its secret, revoked.
    let (code, secret, err) = burgee(
        &server,
        &[
            "tokens",
            "create",
            "--name",
            "ci",
            "--role",
            "editor",
            "--project",
            "Web",
            "--expires-in",
            "30d",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    let secret = secret.trim().to_owned();
    assert!(secret.starts_with("bgt_"), "{secret}");
    let tokens = json_of(&server, &["tokens", "list"]);
    let listed = tokens
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["name"] == "ci")
        .unwrap()
        .clone();
    assert!(listed["expires_at"].is_string());
    assert!(!tokens.to_string().contains(&secret));
    let whoami = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["whoami", "--output", "json"])
        .env("BURGEE_URL", &server.base)
        .env("BURGEE_TOKEN", &secret)
        .output()
        .unwrap();
    let me: Value = serde_json::from_slice(&whoami.stdout).unwrap();
    assert_eq!(me["token"]["name"], "ci");
    let id = listed["id"].to_string();
    let (code, _, err) = burgee(&server, &["tokens", "revoke", &id], "");
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = burgee(&server, &["whoami"], "");
    assert_eq!(code, 0, "{err}");
    let after = Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args(["whoami"])
        .env("BURGEE_URL", &server.base)
        .env("BURGEE_TOKEN", &secret)
        .output()
        .unwrap();
    assert!(!after.status.success(), "a revoked token stops");

    // Server-side keys: created with an expiry, rotated, listed.
    let (code, key, err) = burgee(
        &server,
        &[
            "keys",
            "create",
            "--environment",
            &client_key,
            "--server",
            "--expires-in",
            "90d",
        ],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(key.trim().starts_with("ser."));
    let (code, rotated, err) = burgee(
        &server,
        &["keys", "rotate", "1", "--old-expires-in", "1h"],
        "",
    );
    assert_eq!(code, 0, "{err}");
    assert!(rotated.trim().starts_with("ser.") && rotated.trim() != key.trim());
    let keys = json_of(&server, &["keys", "list", "--environment", &client_key]);
    assert_eq!(keys.as_array().unwrap().len(), 2);

    // The audit log: verified, and exported as JSON Lines ending with the chain head.
    let verified = json_of(&server, &["audit", "verify"]);
    assert_eq!(verified["ok"], true);
    let (code, export, _) = burgee(&server, &["audit", "export", "--format", "jsonl"], "");
    assert_eq!(code, 0);
    let last: Value = serde_json::from_str(export.lines().last().unwrap()).unwrap();
    assert_eq!(last["chain_head"]["hash"], verified["verification"]["head"]);
    let actions: Vec<Value> = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|e| e["action"].clone())
        .collect();
    for action in [
        "user.created",
        "team.member_added",
        "role.created",
        "grant.created",
        "token.created",
        "token.revoked",
        "server_key.rotated",
    ] {
        assert!(
            actions.contains(&Value::from(action)),
            "{action} in {actions:?}"
        );
    }
    let (code, csv, _) = burgee(
        &server,
        &[
            "audit",
            "export",
            "--format",
            "csv",
            "--since",
            "2000-01-01T00:00:00Z",
        ],
        "",
    );
    assert_eq!(code, 0);
    assert!(csv.starts_with("seq,at,actor_kind"), "{csv}");
}
