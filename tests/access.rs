//! Signing in and staying signed in, through the real binary: first-start setup, sessions
//! (cookie and bearer), CSRF, lockouts, invitations, deactivation, tokens and their limits,
//! and the local admin socket.

#![allow(clippy::unwrap_used)] // test helpers fail loudly

mod common;

use std::time::Duration;

use common::access::{
    Auth, admin_post, audit, call, call_with, cookie_secret, grant, login, session_cookie,
    status_of, user,
};
use common::server::{Server, TOKEN};
use reqwest::Method;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery";

async fn whoami(server: &Server, auth: &Auth) -> u16 {
    call(server, auth, Method::GET, "/admin/v1/auth/whoami", None)
        .await
        .0
}

#[tokio::test]
async fn the_setup_token_creates_the_first_admin_once() {
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_in(&data_dir, &[]);
    let token = std::fs::read_to_string(data_dir.join("setup-token"))
        .unwrap()
        .trim()
        .to_owned();
    let body = json!({"setup_token": token, "email": "Owner@Example.com", "name": "Owner", "password": PASSWORD});
    let (status, _, user) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/setup",
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(user["email"], "owner@example.com");
    // Single use.
    let (status, _, again) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/setup",
        Some(&body),
    )
    .await;
    assert_eq!(
        (status, again["error"]["code"].as_str()),
        (401, Some("unauthorized"))
    );
    let session = Auth::Bearer(login(&server, "owner@example.com", PASSWORD).await);
    let (status, _, me) = call(
        &server,
        &session,
        Method::GET,
        "/admin/v1/auth/whoami",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        me["permissions"]["organisation"]
            .as_array()
            .unwrap()
            .contains(&json!("MANAGE_USERS")),
        "{me}"
    );
    let (status, _, _) = call(
        &server,
        &session,
        Method::POST,
        "/admin/v1/projects",
        Some(&json!({"name": "Web"})),
    )
    .await;
    assert_eq!(status, 201);
    let actions: Vec<Value> = audit_as(&server, &session)
        .await
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(
        actions,
        vec![
            json!("instance.initialised"),
            // A node of its own reads its newest command format: switched on at its start.
            json!("cluster.command_format_raised"),
            json!("setup.completed"),
            json!("login.succeeded"),
            json!("project.created")
        ]
    );
}

async fn audit_as(server: &Server, auth: &Auth) -> Vec<Value> {
    let (status, _, page) =
        call(server, auth, Method::GET, "/admin/v1/audit?limit=500", None).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_bootstrap_token_is_an_ordinary_named_token() {
    let server = Server::start();
    let (status, _, tokens) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/tokens",
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(tokens["items"][0]["name"], "bootstrap");
    // Rotated: a new secret works, the old one stops.
    let (status, _, rotated) = call(
        &server,
        &Auth::admin(),
        Method::POST,
        "/admin/v1/tokens/1/rotate",
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 201, "{rotated}");
    assert_eq!(whoami(&server, &Auth::admin()).await, 401);
    assert_eq!(
        whoami(
            &server,
            &Auth::Bearer(rotated["token"].as_str().unwrap().to_owned())
        )
        .await,
        200
    );
}

#[tokio::test]
async fn cookie_sessions_need_the_csrf_token_and_a_new_password_first() {
    let server = Server::start_fresh(&["--trusted-proxies", "127.0.0.1/32"]);
    let admin = Auth::admin();
    let (status, _, created) = call(
        &server,
        &admin,
        Method::POST,
        "/admin/v1/users",
        Some(&json!({"email": "ann@example.com", "name": "Ann", "password": "initial password 1"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    let (status, headers, signed_in) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "ann@example.com", "password": "initial password 1"})),
    )
    .await;
    assert_eq!(status, 200, "{signed_in}");
    assert_eq!(signed_in["must_change_password"], true);
    let cookies: Vec<&str> = headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session_line = cookies
        .iter()
        .find(|c| c.starts_with("burgee_session="))
        .unwrap();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(session_line.contains(attribute), "{session_line}");
    }
    assert!(
        !session_line.contains("Secure"),
        "plain HTTP: {session_line}"
    );
    let session = cookie_secret(session_line);
    let csrf = signed_in["csrf_token"].as_str().unwrap().to_owned();
    let with_csrf = Auth::Cookie {
        session: session.clone(),
        csrf: Some(csrf.clone()),
    };
    let without_csrf = Auth::Cookie {
        session: session.clone(),
        csrf: None,
    };
    let wrong_csrf = Auth::Cookie {
        session: session.clone(),
        csrf: Some("0".repeat(64)),
    };

    // Before anything else, a new password.
    let (status, _, body) =
        call(&server, &with_csrf, Method::GET, "/admin/v1/projects", None).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("password_change_required"))
    );
    let change = json!({"current_password": "initial password 1", "new_password": PASSWORD});
    for refused in [&without_csrf, &wrong_csrf] {
        let (status, _, body) = call(
            &server,
            refused,
            Method::POST,
            "/admin/v1/auth/password",
            Some(&change),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("csrf_failed"))
        );
    }
    // The right token from another site is refused too.
    let (status, _, _) = call_with(
        &server,
        &with_csrf,
        Method::POST,
        "/admin/v1/auth/password",
        Some(&change),
        &[("sec-fetch-site", "cross-site")],
    )
    .await;
    assert_eq!(status, 403);
    let (status, _, body) = call(
        &server,
        &with_csrf,
        Method::POST,
        "/admin/v1/auth/password",
        Some(&change),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    // Reads need no CSRF token; without a grant, nothing is visible.
    let (status, _, body) = call(
        &server,
        &without_csrf,
        Method::GET,
        "/admin/v1/projects",
        None,
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden"))
    );
    let ann = created["id"].as_u64().unwrap();
    grant(&server, ann, "viewer", json!({})).await;
    assert_eq!(
        status_of(&server, &without_csrf, Method::GET, "/admin/v1/projects").await,
        200
    );

    // Behind a trusted proxy that says https, cookies are Secure.
    let (_, headers, _) = call_with(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "ann@example.com", "password": PASSWORD})),
        &[
            ("x-forwarded-proto", "https"),
            ("x-forwarded-for", "203.0.113.9"),
        ],
    )
    .await;
    let secure = session_cookie(&headers);
    assert!(secure.contains("; Secure"), "{secure}");
    let logins: Vec<Value> = audit(&server)
        .await
        .into_iter()
        .filter(|e| e["action"] == "login.succeeded")
        .collect();
    assert_eq!(logins.last().unwrap()["source"], "203.0.113.9");
    // An untrusted peer's forwarded address is not believed (this server trusts loopback,
    // so check the first login's source instead: the peer's own address).
    assert_eq!(logins[0]["source"], "127.0.0.1");

    // Logout ends the session at once.
    assert_eq!(
        status_of(&server, &with_csrf, Method::POST, "/admin/v1/auth/logout").await,
        204
    );
    assert_eq!(
        status_of(&server, &without_csrf, Method::GET, "/admin/v1/projects").await,
        401
    );
}

#[tokio::test]
async fn failed_logins_lock_out_for_a_while_and_never_tell_who_exists() {
    let server = Server::start_fresh(&["--login-max-failures", "3", "--login-lockout", "3s"]);
    user(&server, "bob@example.com", PASSWORD).await;
    let attempt = |email: &'static str, password: &'static str| {
        let server = &server;
        async move {
            let (status, headers, body) = call(
                server,
                &Auth::None,
                Method::POST,
                "/admin/v1/auth/login",
                Some(&json!({"email": email, "password": password, "session": "token"})),
            )
            .await;
            (
                status,
                body["error"]["code"].as_str().map(str::to_owned),
                headers.contains_key("retry-after"),
            )
        }
    };
    let mut real = Vec::new();
    let mut unknown = Vec::new();
    for _ in 0..4 {
        real.push(attempt("bob@example.com", "wrong password 123").await);
        unknown.push(attempt("nobody@example.com", "wrong password 123").await);
    }
    // Identical answers whether or not the account exists.
    assert_eq!(real, unknown);
    assert_eq!(
        real[..3].iter().map(|a| a.0).collect::<Vec<_>>(),
        vec![401, 401, 401]
    );
    assert_eq!(real[3], (429, Some("too_many_attempts".to_owned()), true));
    // Locked even with the right password.
    assert_eq!(attempt("bob@example.com", PASSWORD).await.0, 429);
    let entries = audit(&server).await;
    assert_eq!(
        entries
            .iter()
            .filter(|e| e["action"] == "login.locked")
            .count(),
        2,
        "both accounts locked"
    );
    let failed = entries
        .iter()
        .find(|e| e["action"] == "login.failed" && e["target"] == "account bob@example.com")
        .unwrap();
    assert_eq!(failed["detail"]["reason"], "wrong password");
    // The lockout is stored with the account (replicated like any change).
    let (_, _, users) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/users",
        None,
    )
    .await;
    assert!(users["items"][0]["locked_until"].is_string(), "{users}");
    tokio::time::sleep(Duration::from_millis(3200)).await;
    assert_eq!(attempt("bob@example.com", PASSWORD).await.0, 200);
}

#[tokio::test]
async fn invitations_work_once_and_expire() {
    let server = Server::start_fresh(&["--invite-lifetime", "2s"]);
    let admin = Auth::admin();
    let (status, _, invited) = call(
        &server,
        &admin,
        Method::POST,
        "/admin/v1/users",
        Some(&json!({"email": "cy@example.com", "name": "Cy"})),
    )
    .await;
    assert_eq!(status, 201, "{invited}");
    let invite = invited["invite"]["token"].as_str().unwrap().to_owned();
    assert_eq!(invited["invite_pending"], true);
    // No password yet: cannot sign in.
    let (status, _, _) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "cy@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 401);
    let weak = json!({"token": invite, "password": "short"});
    let (status, _, body) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/accept-invite",
        Some(&weak),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (400, Some("weak_password"))
    );
    let accept = json!({"token": invite, "password": PASSWORD});
    assert_eq!(
        call(
            &server,
            &Auth::None,
            Method::POST,
            "/admin/v1/auth/accept-invite",
            Some(&accept)
        )
        .await
        .0,
        200
    );
    assert_eq!(
        call(
            &server,
            &Auth::None,
            Method::POST,
            "/admin/v1/auth/accept-invite",
            Some(&accept)
        )
        .await
        .0,
        401
    );
    login(&server, "cy@example.com", PASSWORD).await;
    // A second invitation, left to expire.
    let late = admin_post(
        &server,
        "/admin/v1/users",
        json!({"email": "di@example.com", "name": "Di"}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let accept = json!({"token": late["invite"]["token"], "password": PASSWORD});
    let (status, _, body) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/accept-invite",
        Some(&accept),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (401, Some("invalid_invite"))
    );
}

#[tokio::test]
async fn deactivation_stops_sessions_and_tokens_at_once() {
    let server = Server::start();
    let id = user(&server, "eve@example.com", PASSWORD).await;
    grant(&server, id, "admin", json!({})).await;
    let session = Auth::Bearer(login(&server, "eve@example.com", PASSWORD).await);
    let (status, _, personal) = call(
        &server,
        &session,
        Method::POST,
        "/admin/v1/auth/tokens",
        Some(&json!({"name": "laptop"})),
    )
    .await;
    assert_eq!(status, 201, "{personal}");
    let personal = Auth::Bearer(personal["token"].as_str().unwrap().to_owned());
    assert_eq!(whoami(&server, &personal).await, 200);
    let (status, _, _) = call(
        &server,
        &Auth::admin(),
        Method::PATCH,
        &format!("/admin/v1/users/{id}"),
        Some(&json!({"active": false})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(&server, &session).await, 401);
    assert_eq!(whoami(&server, &personal).await, 401);
    let (status, _, _) = call(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "eve@example.com", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, 401, "a deactivated account cannot sign in");
    // Reactivated: the personal token carries the user's permissions again.
    call(
        &server,
        &Auth::admin(),
        Method::PATCH,
        &format!("/admin/v1/users/{id}"),
        Some(&json!({"active": true})),
    )
    .await;
    assert_eq!(whoami(&server, &personal).await, 200);
    // An admin's password reset ends every session.
    let session = Auth::Bearer(login(&server, "eve@example.com", PASSWORD).await);
    let (status, _, _) = call(
        &server,
        &Auth::admin(),
        Method::POST,
        &format!("/admin/v1/users/{id}/reset-password"),
        Some(&json!({"password": "a new initial one"})),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(whoami(&server, &session).await, 401);
}

#[tokio::test]
async fn tokens_expire_rotate_and_never_exceed_their_creator() {
    let server = Server::start();
    let admin = Auth::admin();
    admin_post(&server, "/admin/v1/projects", json!({"name": "Web"})).await;
    admin_post(&server, "/admin/v1/projects", json!({"name": "Other"})).await;
    let (status, _, _) = call(
        &server,
        &admin,
        Method::POST,
        "/admin/v1/roles",
        Some(&json!({"name": "token-keeper", "permissions": ["MANAGE_TOKENS"]})),
    )
    .await;
    assert_eq!(status, 201);
    let id = user(&server, "fay@example.com", PASSWORD).await;
    grant(&server, id, "token-keeper", json!({})).await;
    grant(&server, id, "editor", json!({"project_id": 1})).await;
    let fay = Auth::Bearer(login(&server, "fay@example.com", PASSWORD).await);
    for too_much in [
        json!({"name": "t", "role": "admin"}),
        json!({"name": "t", "role": "editor", "project_id": 2}),
        json!({"name": "t", "role": "editor"}),
        json!({"name": "t", "permissions": ["MANAGE_USERS"]}),
    ] {
        let (status, _, body) = call(
            &server,
            &fay,
            Method::POST,
            "/admin/v1/tokens",
            Some(&too_much),
        )
        .await;
        assert_eq!(
            (status, body["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{too_much}: {body}"
        );
    }
    let (status, _, scoped) = call(
        &server,
        &fay,
        Method::POST,
        "/admin/v1/tokens",
        Some(&json!({"name": "ci", "role": "editor", "project_id": 1, "expires_in": "2s"})),
    )
    .await;
    assert_eq!(status, 201, "{scoped}");
    let scoped_auth = Auth::Bearer(scoped["token"].as_str().unwrap().to_owned());
    assert_eq!(
        call(
            &server,
            &scoped_auth,
            Method::POST,
            "/admin/v1/projects/1/features",
            Some(&json!({"name": "banner"}))
        )
        .await
        .0,
        201
    );
    assert_eq!(
        call(
            &server,
            &scoped_auth,
            Method::POST,
            "/admin/v1/projects/2/features",
            Some(&json!({"name": "banner"}))
        )
        .await
        .0,
        403
    );
    // The list never shows a secret.
    let (_, _, listed) = call(&server, &admin, Method::GET, "/admin/v1/tokens", None).await;
    assert!(
        !listed
            .to_string()
            .contains(scoped["token"].as_str().unwrap())
    );
    // Rotation with a grace period: both work, then only the new one.
    let (status, _, rotated) = call(
        &server,
        &admin,
        Method::POST,
        "/admin/v1/tokens/1/rotate",
        Some(&json!({"grace": "2s"})),
    )
    .await;
    assert_eq!(status, 201);
    let new = Auth::Bearer(rotated["token"].as_str().unwrap().to_owned());
    assert_eq!(
        (whoami(&server, &admin).await, whoami(&server, &new).await),
        (200, 200)
    );
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(whoami(&server, &scoped_auth).await, 401, "expired");
    assert_eq!(
        (whoami(&server, &admin).await, whoami(&server, &new).await),
        (401, 200)
    );
    let (status, _, _) = call(
        &server,
        &new,
        Method::DELETE,
        &format!("/admin/v1/tokens/{}", rotated["id"]),
        None,
    )
    .await;
    assert_eq!(status, 204);
    assert_eq!(whoami(&server, &new).await, 401, "revoked");
}

#[tokio::test]
async fn the_local_socket_recovers_a_lost_admin_through_the_write_path() {
    use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
    let temp = tempfile::tempdir().unwrap();
    let data_dir = temp.path().join("data");
    let server = Server::start_in(&data_dir, &[]);
    let socket = data_dir.join("admin.sock");
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let mut cli = std::process::Command::new(env!("CARGO_BIN_EXE_burgee"))
        .args([
            "users",
            "create",
            "root@example.com",
            "--admin",
            "--local",
            "--password-stdin",
            "--output",
            "json",
            "--data-dir",
        ])
        .arg(&data_dir)
        .env_remove("BURGEE_TOKEN")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(
        cli.stdin.as_mut().unwrap(),
        format!("{PASSWORD}\n").as_bytes(),
    )
    .unwrap();
    let output = cli.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["must_change_password"], true);
    let session = Auth::Bearer(login(&server, "root@example.com", PASSWORD).await);
    let (status, _, body) = call(
        &server,
        &session,
        Method::POST,
        "/admin/v1/auth/password",
        Some(&json!({"current_password": PASSWORD, "new_password": "a brand new secret"})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    let entries = audit_as(&server, &session).await;
    let created = entries
        .iter()
        .find(|e| e["action"] == "user.created")
        .unwrap();
    assert_eq!(created["actor"]["kind"], "local");
    assert_eq!(created["changes"][0]["after"]["email"], "root@example.com");
    assert!(
        created["changes"][0]["after"]
            .get("password_hash")
            .is_none(),
        "no hash in the log"
    );
    // TCP requests never pass as local, whatever they send.
    let (status, _, _) = call_with(
        &server,
        &Auth::None,
        Method::GET,
        "/admin/v1/users",
        None,
        &[("x-forwarded-for", "unix")],
    )
    .await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn the_cli_signs_in_like_kubectl() {
    use std::os::unix::fs::PermissionsExt as _;
    let server = Server::start();
    user(&server, "gil@example.com", PASSWORD).await;
    let config = tempfile::tempdir().unwrap();
    let burgee = |args: &[&str], stdin: &str| {
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_burgee"))
            .args(args)
            .env("BURGEE_CONFIG_DIR", config.path())
            .env_remove("BURGEE_TOKEN")
            .env_remove("BURGEE_URL")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, _, err) = burgee(
        &["login", "gil@example.com", "--url", &server.base],
        &format!("{PASSWORD}\n"),
    );
    assert!(ok, "{err}");
    let saved = config.path().join("cli.toml");
    assert_eq!(
        std::fs::metadata(&saved).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The saved URL and token are used without flags.
    let (ok, out, err) = burgee(&["whoami", "--output", "json"], "");
    assert!(ok, "{err}");
    let me: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(me["user"]["email"], "gil@example.com");
    // BURGEE_TOKEN wins over the saved sign-in.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_burgee"));
    let out = child
        .args(["whoami", "--output", "json"])
        .env("BURGEE_CONFIG_DIR", config.path())
        .env("BURGEE_TOKEN", TOKEN)
        .output()
        .unwrap();
    let me: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(me["token"]["name"], "bootstrap");
    let (ok, _, err) = burgee(&["logout"], "");
    assert!(ok, "{err}");
    assert!(!saved.exists());
    let (ok, _, err) = burgee(&["whoami", "--url", &server.base], "");
    assert!(!ok && err.contains("not signed in"), "{err}");
}

#[tokio::test]
async fn sessions_end_when_idle_or_too_old() {
    let server = Server::start_fresh(&["--session-idle-timeout", "2s", "--session-lifetime", "5s"]);
    user(&server, "ida@example.com", PASSWORD).await;
    let idle = Auth::Bearer(login(&server, "ida@example.com", PASSWORD).await);
    let busy = Auth::Bearer(login(&server, "ida@example.com", PASSWORD).await);
    let started = std::time::Instant::now();
    // Used every second, a session outlives the idle timeout, never its lifetime.
    while started.elapsed() < Duration::from_millis(4000) {
        assert_eq!(
            whoami(&server, &busy).await,
            200,
            "at {:?}",
            started.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert_eq!(whoami(&server, &idle).await, 401, "idle for 4 s");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(whoami(&server, &busy).await, 401, "older than its lifetime");
}

#[tokio::test]
async fn forwarded_headers_count_only_from_trusted_proxies() {
    let server = Server::start();
    user(&server, "hal@example.com", PASSWORD).await;
    let forwarded = [
        ("x-forwarded-proto", "https"),
        ("x-forwarded-for", "203.0.113.9"),
    ];
    let (status, headers, _) = call_with(
        &server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": "hal@example.com", "password": PASSWORD})),
        &forwarded,
    )
    .await;
    assert_eq!(status, 200);
    let cookie = session_cookie(&headers);
    assert!(!cookie.contains("Secure"), "{cookie}");
    let entry = audit(&server)
        .await
        .into_iter()
        .rev()
        .find(|e| e["action"] == "login.succeeded")
        .unwrap();
    assert_eq!(entry["source"], "127.0.0.1");
}

#[tokio::test]
async fn server_keys_rotate_and_expire() {
    let server = Server::start();
    let admin = Auth::admin();
    admin_post(&server, "/admin/v1/projects", json!({"name": "Web"})).await;
    admin_post(
        &server,
        "/admin/v1/projects/1/environments",
        json!({"name": "Live"}),
    )
    .await;
    let document = |key: String| {
        let server = &server;
        async move {
            common::server::client()
                .get(server.url("/api/v1/environment-document/"))
                .header("X-Environment-Key", key)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    let first = admin_post(
        &server,
        "/admin/v1/environments/1/server-keys",
        json!({"name": "backend"}),
    )
    .await;
    let first_key = first["key"].as_str().unwrap().to_owned();
    // Rotated without an end: both keys work until the old one is revoked.
    let (status, _, second) = call(
        &server,
        &admin,
        Method::POST,
        "/admin/v1/server-keys/1/rotate",
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 201, "{second}");
    let second_key = second["key"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            document(first_key.clone()).await,
            document(second_key.clone()).await
        ),
        (200, 200)
    );
    assert_eq!(
        status_of(&server, &admin, Method::DELETE, "/admin/v1/server-keys/1").await,
        204
    );
    assert_eq!(
        (
            document(first_key).await,
            document(second_key.clone()).await
        ),
        (403, 200)
    );
    // Rotated with a grace period: the old key stops by itself.
    let (_, _, third) = call(
        &server,
        &admin,
        Method::POST,
        &format!("/admin/v1/server-keys/{}/rotate", second["id"]),
        Some(&json!({"old_expires_in": "2s"})),
    )
    .await;
    let third_key = third["key"].as_str().unwrap().to_owned();
    assert_eq!(
        (
            document(second_key.clone()).await,
            document(third_key.clone()).await
        ),
        (200, 200)
    );
    let (_, _, listed) = call(
        &server,
        &admin,
        Method::GET,
        "/admin/v1/environments/1/server-keys",
        None,
    )
    .await;
    assert!(listed["items"][1]["expires_at"].is_string(), "{listed}");
    tokio::time::sleep(Duration::from_millis(2200)).await;
    assert_eq!(
        (document(second_key).await, document(third_key).await),
        (403, 200)
    );
    let (status, _, _) = call(
        &server,
        &admin,
        Method::POST,
        "/admin/v1/environments/1/server-keys",
        Some(&json!({"name": "x", "expires_in": "0s"})),
    )
    .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn the_last_use_of_a_token_is_recorded() {
    let server = Server::start();
    let token = admin_post(
        &server,
        "/admin/v1/tokens",
        json!({"name": "ci", "role": "viewer"}),
    )
    .await;
    let (_, _, listed) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        "/admin/v1/tokens",
        None,
    )
    .await;
    assert!(listed["items"][1]["last_used_at"].is_null(), "{listed}");
    let used = Auth::Bearer(token["token"].as_str().unwrap().to_owned());
    assert_eq!(whoami(&server, &used).await, 200);
    // Uses are recorded through the write path every few seconds, not on every request.
    let mut recorded = Value::Null;
    for _ in 0..60 {
        let (_, _, listed) = call(
            &server,
            &Auth::admin(),
            Method::GET,
            "/admin/v1/tokens",
            None,
        )
        .await;
        recorded = listed["items"][1]["last_used_at"].clone();
        if recorded.is_string() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(recorded.is_string(), "last use never recorded");
    // Recording use is bookkeeping, not an audit entry.
    assert!(
        audit(&server)
            .await
            .iter()
            .all(|e| e["action"] != "credentials.used")
    );
}

#[tokio::test]
async fn a_user_manager_cannot_make_themselves_an_admin() {
    let server = Server::start();
    admin_post(&server, "/admin/v1/roles", json!({"name": "user-manager", "permissions": ["MANAGE_USERS", "MANAGE_TEAMS", "MANAGE_TOKENS"]})).await;
    let mia = user(&server, "mia@example.com", PASSWORD).await;
    grant(&server, mia, "user-manager", json!({})).await;
    let boss = user(&server, "boss@example.com", PASSWORD).await;
    grant(&server, boss, "admin", json!({})).await;
    let team = admin_post(&server, "/admin/v1/teams", json!({"name": "Admins"})).await;
    admin_post(
        &server,
        "/admin/v1/grants",
        json!({"team_id": team["id"], "role": "admin"}),
    )
    .await;
    let session = Auth::Bearer(login(&server, "mia@example.com", PASSWORD).await);
    let entries_before = audit(&server).await.len();
    let attempts = [
        (
            Method::POST,
            "/admin/v1/grants".to_owned(),
            Some(json!({"user_id": mia, "role": "admin"})),
        ),
        (
            Method::POST,
            format!("/admin/v1/users/{boss}/reset-password"),
            Some(json!({"password": "taken over now!"})),
        ),
        (
            Method::PATCH,
            format!("/admin/v1/users/{boss}"),
            Some(json!({"active": false})),
        ),
        (Method::DELETE, format!("/admin/v1/users/{boss}"), None),
        (
            Method::PUT,
            format!("/admin/v1/teams/{}/members/{mia}", team["id"]),
            None,
        ),
        (
            Method::PATCH,
            "/admin/v1/roles/1".to_owned(),
            Some(json!({"permissions": ["MANAGE_USERS", "MANAGE_SETTINGS"]})),
        ),
        (
            Method::POST,
            "/admin/v1/tokens".to_owned(),
            Some(json!({"name": "root", "role": "admin"})),
        ),
        (
            Method::POST,
            "/admin/v1/tokens/1/rotate".to_owned(),
            Some(json!({})),
        ),
        (
            Method::POST,
            "/admin/v1/users".to_owned(),
            Some(json!({"email": "sock@example.com", "name": "Sock", "admin": true})),
        ),
    ];
    for (method, path, body) in &attempts {
        let (status, _, answer) =
            call(&server, &session, method.clone(), path, body.as_ref()).await;
        assert_eq!(
            (status, answer["error"]["code"].as_str()),
            (403, Some("forbidden")),
            "{method} {path}: {answer}"
        );
    }
    // Each refusal is a security event in the audit log; nothing else changed.
    let entries = audit(&server).await;
    let denied: Vec<&Value> = entries[entries_before..]
        .iter()
        .filter(|e| e["action"] == "access.denied")
        .collect();
    assert_eq!(
        denied.len(),
        attempts.len(),
        "{:?}",
        &entries[entries_before..]
    );
    assert!(
        denied
            .iter()
            .all(|e| e["actor"]["name"] == "mia@example.com")
    );
    assert_eq!(
        whoami(
            &server,
            &Auth::Bearer(login(&server, "boss@example.com", PASSWORD).await)
        )
        .await,
        200
    );
    // What the user manager holds, they may manage: an account without grants.
    let plain = admin_post(
        &server,
        "/admin/v1/users",
        json!({"email": "pat@example.com", "name": "Pat", "password": "pat's first password"}),
    )
    .await;
    let (status, _, _) = call(
        &server,
        &session,
        Method::POST,
        &format!("/admin/v1/users/{}/reset-password", plain["id"]),
        Some(&json!({})),
    )
    .await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn tokens_follow_their_makers_and_lists_show_only_what_may_be_seen() {
    let server = Server::start();
    admin_post(&server, "/admin/v1/projects", json!({"name": "Web"})).await;
    admin_post(
        &server,
        "/admin/v1/projects/1/environments",
        json!({"name": "Staging"}),
    )
    .await;
    admin_post(
        &server,
        "/admin/v1/projects/1/environments",
        json!({"name": "Production"}),
    )
    .await;
    admin_post(&server, "/admin/v1/projects", json!({"name": "Other"})).await;
    admin_post(
        &server,
        "/admin/v1/projects/2/environments",
        json!({"name": "Elsewhere"}),
    )
    .await;
    // Lists: an environment-scoped viewer sees its environment and its project only.
    let viv = user(&server, "viv@example.com", PASSWORD).await;
    grant(&server, viv, "viewer", json!({"environment_id": 1})).await;
    let viv_session = Auth::Bearer(login(&server, "viv@example.com", PASSWORD).await);
    let ids = |value: &Value| {
        value["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["id"].clone())
            .collect::<Vec<_>>()
    };
    for (path, expected) in [
        ("/admin/v1/environments", vec![json!(1)]),
        ("/admin/v1/projects/1/environments", vec![json!(1)]),
        ("/admin/v1/projects", vec![json!(1)]),
    ] {
        let (status, _, listed) = call(&server, &viv_session, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(ids(&listed), expected, "{path}: {listed}");
    }

    // An organisation token made by a user holds no more than the user holds now, and is
    // not that user: it cannot mint a personal token with the user's permissions.
    admin_post(
        &server,
        "/admin/v1/roles",
        json!({"name": "token-keeper", "permissions": ["MANAGE_TOKENS"]}),
    )
    .await;
    let fay = user(&server, "fay@example.com", PASSWORD).await;
    grant(&server, fay, "token-keeper", json!({})).await;
    grant(&server, fay, "editor", json!({"project_id": 1})).await;
    let fay_session = Auth::Bearer(login(&server, "fay@example.com", PASSWORD).await);
    let (_, _, made) = call(
        &server,
        &fay_session,
        Method::POST,
        "/admin/v1/tokens",
        Some(&json!({"name": "ci", "permissions": ["VIEW_PROJECT"], "project_id": 1})),
    )
    .await;
    let ci = Auth::Bearer(made["token"].as_str().unwrap().to_owned());
    let (status, _, body) = call(
        &server,
        &ci,
        Method::POST,
        "/admin/v1/auth/tokens",
        Some(&json!({"name": "escape"})),
    )
    .await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(
        status_of(&server, &ci, Method::GET, "/admin/v1/projects/1").await,
        200
    );
    let (_, _, grants) = call(
        &server,
        &Auth::admin(),
        Method::GET,
        &format!("/admin/v1/grants?user_id={fay}"),
        None,
    )
    .await;
    let editor = grants["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["role"] == "editor")
        .unwrap()["id"]
        .clone();
    assert_eq!(
        status_of(
            &server,
            &Auth::admin(),
            Method::DELETE,
            &format!("/admin/v1/grants/{editor}")
        )
        .await,
        204
    );
    assert_eq!(
        status_of(&server, &ci, Method::GET, "/admin/v1/projects/1").await,
        403,
        "the demotion reached the token"
    );

    // A personal token is rotated by its owner only.
    let (_, _, personal) = call(
        &server,
        &viv_session,
        Method::POST,
        "/admin/v1/auth/tokens",
        Some(&json!({"name": "laptop"})),
    )
    .await;
    let (status, _, body) = call(
        &server,
        &Auth::admin(),
        Method::POST,
        &format!("/admin/v1/tokens/{}/rotate", personal["id"]),
        Some(&json!({})),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (403, Some("forbidden")),
        "{body}"
    );
    // An admin reset ends the user's personal tokens with their sessions.
    let personal_auth = Auth::Bearer(personal["token"].as_str().unwrap().to_owned());
    assert_eq!(whoami(&server, &personal_auth).await, 200);
    call(
        &server,
        &Auth::admin(),
        Method::POST,
        &format!("/admin/v1/users/{viv}/reset-password"),
        Some(&json!({})),
    )
    .await;
    assert_eq!(whoami(&server, &personal_auth).await, 401);

    // A wrong current password on a password change counts as a failed login.
    let (status, _, _) = call(
        &server,
        &fay_session,
        Method::POST,
        "/admin/v1/auth/password",
        Some(&json!({"current_password": "not my password", "new_password": "a new password 42"})),
    )
    .await;
    assert_eq!(status, 401);
    let entries = audit(&server).await;
    assert!(entries.iter().any(|e| e["action"] == "login.failed"
        && e["detail"]["reason"] == "wrong current password on a password change"));

    // The organisation's audit permission alone reads the log.
    admin_post(
        &server,
        "/admin/v1/roles",
        json!({"name": "auditor", "permissions": ["VIEW_AUDIT_LOG"]}),
    )
    .await;
    let aud = user(&server, "aud@example.com", PASSWORD).await;
    grant(&server, aud, "auditor", json!({})).await;
    let aud_session = Auth::Bearer(login(&server, "aud@example.com", PASSWORD).await);
    assert_eq!(
        status_of(&server, &aud_session, Method::GET, "/admin/v1/audit").await,
        200
    );
}
