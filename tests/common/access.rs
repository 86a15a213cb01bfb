//! Calling the admin API with any credential: a bearer secret, a browser session (cookie
//! and CSRF token), or none.

use reqwest::Method;
use serde_json::{Value, json};

use super::server::{Server, TOKEN, client};

/// A credential for admin calls.
#[derive(Debug, Clone)]
pub enum Auth {
    None,
    Bearer(String),
    /// A browser session: the cookie, and the CSRF token to echo (or not).
    Cookie {
        session: String,
        csrf: Option<String>,
    },
}

impl Auth {
    pub fn admin() -> Self {
        Self::Bearer(TOKEN.to_owned())
    }
}

/// One admin call: status, headers and JSON body (`null` when empty).
pub async fn call(
    server: &Server,
    auth: &Auth,
    method: Method,
    path: &str,
    body: Option<&Value>,
) -> (u16, reqwest::header::HeaderMap, Value) {
    call_with(server, auth, method, path, body, &[]).await
}

pub async fn call_with(
    server: &Server,
    auth: &Auth,
    method: Method,
    path: &str,
    body: Option<&Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, Value) {
    let mut request = client().request(method, server.url(path));
    match auth {
        Auth::None => {}
        Auth::Bearer(secret) => request = request.bearer_auth(secret),
        Auth::Cookie { session, csrf } => {
            request = request.header("cookie", format!("burgee_session={session}"));
            if let Some(csrf) = csrf {
                request = request.header("x-csrf-token", csrf);
            }
        }
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    if let Some(body) = body {
        request = request.json(body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    };
    (status, headers, value)
}

/// Creates a user with a password of their own (reset by the admin, then changed by them),
/// so they can sign in without further steps. Returns the user's id.
pub async fn user(server: &Server, email: &str, password: &str) -> u64 {
    let admin = Auth::admin();
    let initial = format!("{password}-initial");
    let (status, _, user) = call(
        server,
        &admin,
        Method::POST,
        "/admin/v1/users",
        Some(&json!({"email": email, "name": email, "password": initial})),
    )
    .await;
    assert_eq!(status, 201, "{user}");
    let session = login(server, email, &initial).await;
    let (status, _, body) = call(
        server,
        &Auth::Bearer(session),
        Method::POST,
        "/admin/v1/auth/password",
        Some(&json!({"current_password": initial, "new_password": password})),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    user["id"].as_u64().unwrap()
}

/// A bearer session for `email`.
pub async fn login(server: &Server, email: &str, password: &str) -> String {
    let (status, _, body) = call(
        server,
        &Auth::None,
        Method::POST,
        "/admin/v1/auth/login",
        Some(&json!({"email": email, "password": password, "session": "token"})),
    )
    .await;
    assert_eq!(status, 200, "login {email}: {body}");
    body["token"].as_str().unwrap().to_owned()
}

/// Grants `role` to a user at a scope (`{}`, `{"project_id": 1}`, `{"environment_id": 1}`).
pub async fn grant(server: &Server, user_id: u64, role: &str, scope: Value) {
    let mut body = json!({"user_id": user_id, "role": role});
    if let (Value::Object(b), Value::Object(s)) = (&mut body, scope) {
        b.extend(s);
    }
    let (status, _, answer) = call(
        server,
        &Auth::admin(),
        Method::POST,
        "/admin/v1/grants",
        Some(&body),
    )
    .await;
    assert_eq!(status, 201, "{answer}");
}

/// Every audit entry, oldest first.
pub async fn audit(server: &Server) -> Vec<Value> {
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/admin/v1/audit?limit=500&cursor={c}"),
            None => "/admin/v1/audit?limit=500".to_owned(),
        };
        let (status, _, page) = call(server, &Auth::admin(), Method::GET, &path, None).await;
        assert_eq!(status, 200, "{page}");
        entries.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return entries,
        }
    }
}

/// An admin POST that must succeed; its answer.
pub async fn admin_post(server: &Server, path: &str, body: Value) -> Value {
    let (status, _, answer) = call(server, &Auth::admin(), Method::POST, path, Some(&body)).await;
    assert!(
        (200..300).contains(&status),
        "POST {path}: {status} {answer}"
    );
    answer
}

/// The `Set-Cookie` line of the session cookie.
pub fn session_cookie(headers: &reqwest::header::HeaderMap) -> String {
    headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("burgee_session="))
        .unwrap()
}

/// The secret of a session cookie line.
pub fn cookie_secret(line: &str) -> String {
    line.trim_start_matches("burgee_session=")
        .split(';')
        .next()
        .unwrap()
        .to_owned()
}

/// The status of a call without a body.
pub async fn status_of(server: &Server, auth: &Auth, method: Method, path: &str) -> u16 {
    call(server, auth, method, path, None).await.0
}
