//! Signing in and out: first-start setup, login (a cookie session for browsers, a bearer
//! session for the CLI), accepting an invitation, logout, whoami and password changes.

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, Body, created_id, people_views};
use crate::api::AppState;
use crate::api::auth::authenticate::{CSRF_COOKIE, SESSION_COOKIE, csrf_token};
use crate::api::auth::client::ClientInfo;
use crate::api::auth::password::{self, PasswordError};
use crate::api::auth::{Caller, Principal};
use crate::cache::document::iso_timestamp;
use crate::secrets::{Secret, secret_hash};
use crate::store::command::{Actor, Command, Envelope, NewUser, SecurityEvent};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/setup", post(setup))
        .route("/admin/v1/auth/login", post(login))
        .route("/admin/v1/auth/accept-invite", post(accept_invite))
        .route("/admin/v1/auth/logout", post(logout))
        .route("/admin/v1/auth/whoami", get(whoami))
        .route("/admin/v1/auth/password", post(change_password))
}

impl From<PasswordError> for ApiError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::Busy => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", error.to_string())
            }
            PasswordError::Failed(_) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                error.to_string(),
            ),
        }
    }
}

/// A password as given, checked against the rules, hashed.
pub async fn new_password_hash(password: &Secret, email: &str) -> Result<String, ApiError> {
    password::check_strength(password.expose(), email)
        .map_err(|m| ApiError::new(StatusCode::BAD_REQUEST, "weak_password", m))?;
    Ok(password::hash(password).await?)
}

/// Runs a command for someone not signed in.
async fn run_anonymous(
    state: &AppState,
    client: &ClientInfo,
    request: &str,
    command: Command,
) -> Result<crate::store::Applied, ApiError> {
    crate::store::state_machine::precheck(&command)?;
    let envelope = Envelope::now(Actor::Anonymous, request, command).from_origin(client.0.origin());
    Ok(state.store.execute(envelope).await??)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Setup {
    setup_token: Secret,
    email: String,
    name: String,
    password: Secret,
}

async fn setup(
    State(state): State<AppState>,
    client: ClientInfo,
    Body(body): Body<Setup>,
) -> Result<Response, ApiError> {
    let catalog = state.store.catalog();
    let hash = secret_hash(body.setup_token.expose());
    let now = crate::clock::now_millis();
    let valid = catalog.meta.setup.as_ref().is_some_and(|s| {
        subtle::ConstantTimeEq::ct_eq(&s.token_hash[..], &hash[..]).into() && s.expires_at > now
    });
    if !valid {
        return Err(ApiError::unauthorized(
            "the setup token is not valid: it was used already, has expired, or this instance was set up with --bootstrap-token",
        ));
    }
    let user = NewUser {
        email: body.email.clone(),
        name: body.name,
        password_hash: Some(new_password_hash(&body.password, &body.email).await?),
        must_change_password: false,
        invite: None,
        admin: true,
    };
    let id = created_id(
        &run_anonymous(
            &state,
            &client,
            "setup",
            Command::CompleteSetup {
                token_hash: hash,
                user,
            },
        )
        .await?,
    )?;
    let catalog = state.store.catalog();
    let user = super::find(&catalog.users, "user", id)?;
    Ok((StatusCode::CREATED, Json(people_views::user(user))).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    email: String,
    password: Secret,
    /// `cookie` (default: a browser session) or `token` (a bearer session for the CLI).
    #[serde(default)]
    session: SessionKind,
}

#[derive(Deserialize, Default, PartialEq)]
#[serde(rename_all = "lowercase")]
enum SessionKind {
    #[default]
    Cookie,
    Token,
}

fn wrong_credentials() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "the e-mail address or the password is wrong",
    )
}

fn locked(until: i64) -> Response {
    let now = crate::clock::now_millis();
    let seconds = ((until - now).max(0) / 1000 + 1).to_string();
    let mut response = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_attempts",
        "too many failed logins: try again later",
    )
    .with_details(json!({"retry_after_seconds": seconds.parse::<u64>().unwrap_or(1)}))
    .into_response();
    if let Ok(value) = HeaderValue::from_str(&seconds) {
        response.headers_mut().insert(header::RETRY_AFTER, value);
    }
    response
}

async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    Body(body): Body<Login>,
) -> Result<Response, ApiError> {
    // Bounded: what is recorded of a failed login is never more than an address's length.
    let email: String = body
        .email
        .trim()
        .to_lowercase()
        .chars()
        .take(crate::store::state_machine::MAX_EMAIL)
        .collect();
    let address = client.0.address.map(crate::api::auth::limiter::address_key);
    let now = crate::clock::now_millis();
    if let Some(until) = state.limiter.locked(&email, address.as_deref(), now) {
        metrics::counter!("burgee_logins_total", "outcome" => "refused_locked").increment(1);
        return Ok(locked(until));
    }
    let catalog = state.store.catalog();
    let user = catalog.user_by_email(&email).cloned();
    if let Some(until) = user
        .as_ref()
        .and_then(|u| u.locked_until)
        .filter(|u| *u > now)
    {
        return Ok(locked(until));
    }
    let matches = password::verify(
        &body.password,
        user.as_ref().and_then(|u| u.password_hash.clone()),
    )
    .await?;
    let active = user.as_ref().is_some_and(|u| u.active);
    let Some(user) = user.clone().filter(|_| matches && active) else {
        let reason = match (&user, matches) {
            (None, _) => "unknown account",
            (Some(u), _) if u.password_hash.is_none() => "no password set yet",
            (Some(_), true) => "deactivated account",
            (Some(_), false) => "wrong password",
        };
        let lock_until =
            state
                .limiter
                .failed(&email, address.as_deref(), crate::clock::now_millis());
        let event = SecurityEvent::LoginFailed {
            email,
            user_id: user.as_ref().map(|u| u.id),
            lock_until,
            reason: reason.into(),
        };
        run_anonymous(&state, &client, "login", Command::RecordEvent(event)).await?;
        metrics::counter!("burgee_logins_total", "outcome" => if lock_until.is_some() { "locked" } else { "failed" }).increment(1);
        return Err(wrong_credentials());
    };
    state.limiter.succeeded(&email);
    metrics::counter!("burgee_logins_total", "outcome" => "succeeded").increment(1);
    let secret = super::environments::new_secret("bgs_")?;
    let lifetime = i64::try_from(state.settings.session_lifetime.as_millis()).unwrap_or(i64::MAX);
    let expires_at = crate::clock::now_millis().saturating_add(lifetime);
    let command = Command::CreateSession {
        user_id: user.id,
        token_hash: secret_hash(&secret),
        expires_at,
    };
    let envelope = Envelope::now(
        Actor::User {
            id: user.id,
            email: user.email.clone(),
        },
        "login",
        command,
    )
    .from_origin(client.0.origin());
    state.store.execute(envelope).await??;
    let mut answer = json!({
        "user": people_views::user(&user),
        "expires_at": iso_timestamp(expires_at),
        "must_change_password": user.must_change_password,
    });
    if body.session == SessionKind::Token {
        answer["token"] = json!(secret);
        return Ok(Json(answer).into_response());
    }
    let csrf = csrf_token(&secret);
    answer["csrf_token"] = json!(csrf);
    let secure = if client.0.https { "; Secure" } else { "" };
    let max_age = lifetime / 1000;
    let mut response = Json(answer).into_response();
    for cookie in [
        format!(
            "{SESSION_COOKIE}={secret}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{secure}"
        ),
        // Readable by the page's script, which echoes it in the CSRF header.
        format!("{CSRF_COOKIE}={csrf}; Path=/; SameSite=Strict; Max-Age={max_age}{secure}"),
    ] {
        if let Ok(value) = HeaderValue::from_str(&cookie) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AcceptInvite {
    token: Secret,
    password: Secret,
}

async fn accept_invite(
    State(state): State<AppState>,
    client: ClientInfo,
    Body(body): Body<AcceptInvite>,
) -> Result<Json<Value>, ApiError> {
    let hash = secret_hash(body.token.expose());
    let now = crate::clock::now_millis();
    let catalog = state.store.catalog();
    let user = catalog.user_by_invite(&hash, now).ok_or_else(|| {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "invalid_invite",
            "the invitation is not valid (it may have expired or been used)",
        )
    })?;
    let password_hash = new_password_hash(&body.password, &user.email).await?;
    let id = user.id;
    run_anonymous(
        &state,
        &client,
        "accept-invite",
        Command::AcceptInvite {
            invite_hash: hash,
            password_hash,
        },
    )
    .await?;
    let catalog = state.store.catalog();
    Ok(Json(people_views::user(super::find(
        &catalog.users,
        "user",
        id,
    )?)))
}

async fn logout(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Principal::Session { id, .. } = caller.principal else {
        return Err(ApiError::bad_request(
            "an API token is revoked, not logged out: DELETE /admin/v1/tokens/{id}",
        ));
    };
    super::execute(&state, &caller, Command::EndSession { id }).await?;
    let mut response = StatusCode::NO_CONTENT.into_response();
    for name in [SESSION_COOKIE, CSRF_COOKIE] {
        if let Ok(value) =
            HeaderValue::from_str(&format!("{name}=; Path=/; Max-Age=0; SameSite=Strict"))
        {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    Ok(response)
}

async fn whoami(State(state): State<AppState>, caller: Caller) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let mut answer = json!({"permissions": caller.access.summary()});
    match caller.principal {
        Principal::Session { id, user_id } => {
            answer["kind"] = json!("user");
            answer["session_id"] = json!(id);
            if let Some(user) = catalog.users.get(&user_id) {
                answer["user"] = people_views::user(user);
            }
            if let Some(session) = catalog.sessions.get(&id) {
                answer["expires_at"] = json!(iso_timestamp(session.expires_at));
            }
        }
        Principal::Token { id } => {
            answer["kind"] = json!("token");
            if let Some(token) = catalog.tokens.get(&id) {
                answer["token"] = people_views::token(token, &catalog);
            }
            if let Some(user) = caller.user_id(&catalog).and_then(|u| catalog.users.get(&u)) {
                answer["user"] = people_views::user(user);
            }
        }
        Principal::Local => answer["kind"] = json!("local"),
    }
    Ok(Json(answer))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordChange {
    current_password: Secret,
    new_password: Secret,
}

async fn change_password(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<PasswordChange>,
) -> Result<StatusCode, ApiError> {
    let Principal::Session { id, user_id } = caller.principal else {
        return Err(ApiError::bad_request(
            "a password is changed by its signed-in user",
        ));
    };
    let catalog = state.store.catalog();
    let user = super::find(&catalog.users, "user", user_id)?.clone();
    if !password::verify(&body.current_password, user.password_hash.clone()).await? {
        // Counted like a failed login: a stolen session cannot guess the password freely.
        let address = caller
            .origin
            .address
            .as_deref()
            .and_then(|a| a.parse().ok())
            .map(crate::api::auth::limiter::address_key);
        let lock_until =
            state
                .limiter
                .failed(&user.email, address.as_deref(), crate::clock::now_millis());
        let event = SecurityEvent::LoginFailed {
            email: user.email.clone(),
            user_id: Some(user.id),
            lock_until,
            reason: "wrong current password on a password change".into(),
        };
        super::execute(&state, &caller, Command::RecordEvent(event)).await?;
        return Err(wrong_credentials());
    }
    if body.new_password == body.current_password {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "weak_password",
            "the new password must differ from the current one",
        ));
    }
    let password_hash = new_password_hash(&body.new_password, &user.email).await?;
    super::execute(
        &state,
        &caller,
        Command::ChangePassword {
            user_id,
            password_hash,
            keep_session: Some(id),
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
