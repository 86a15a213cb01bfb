//! Finding the credential of a request: `Authorization: Bearer <secret>` (an API token or a
//! CLI session) or the browser's session cookie, which needs the CSRF header on every unsafe
//! method. Secrets are looked up by their SHA-256 in a hash index, never compared one by one.

use std::sync::Arc;

use axum::http::request::Parts;
use axum::http::{HeaderMap, Method};
use sha2::{Digest, Sha256};

use super::client::Client;
use super::{Caller, Principal};
use crate::access::{self, Access};
use crate::api::AppState;
use crate::store::Catalog;
use crate::store::catalog::Credential;
use crate::store::command::{Actor, Origin};

pub const SESSION_COOKIE: &str = "burgee_session";
pub const CSRF_COOKIE: &str = "burgee_csrf";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Why a request is not authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No credential, or one that is unknown, revoked, expired or deactivated: 401.
    Unauthenticated(&'static str),
    /// A cookie session without a valid CSRF token on an unsafe method: 403.
    Csrf,
}

/// The CSRF token of a session: derived from its secret, so nothing more is stored.
pub fn csrf_token(session_secret: &str) -> String {
    let digest = Sha256::new_with_prefix(b"burgee-csrf:")
        .chain_update(session_secret.as_bytes())
        .finalize();
    crate::store::audit::hex(&digest.into())
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("Token "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

pub fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

/// Authenticates the request's credential.
pub fn authenticate(parts: &Parts, state: &AppState, client: &Client) -> Result<Caller, Refusal> {
    let now = crate::clock::now_millis();
    let catalog = state.store.catalog();
    let (secret, from_cookie) = match bearer(&parts.headers) {
        Some(secret) => (secret, false),
        None => match cookie(&parts.headers, SESSION_COOKIE) {
            Some(secret) => (secret, true),
            None => {
                return Err(Refusal::Unauthenticated(
                    "sign in, or send an API token: Authorization: Bearer <token>",
                ));
            }
        },
    };
    if secret.starts_with("ser.") {
        return Err(Refusal::Unauthenticated(
            "environment keys are for the SDK API; the admin API needs a user or an API token",
        ));
    }
    let invalid = Refusal::Unauthenticated(
        "the credential is not valid (unknown, revoked, expired or deactivated)",
    );
    let Some(credential) = catalog
        .credentials
        .get(&crate::secrets::secret_hash(secret))
        .copied()
    else {
        // Only for an unknown secret: say so if it is a client key (a linear look-up, kept
        // off the path of every valid request).
        if catalog.environment_by_client_key(secret).is_some() {
            return Err(Refusal::Unauthenticated(
                "environment keys are for the SDK API; the admin API needs a user or an API token",
            ));
        }
        return Err(invalid);
    };
    let origin = Origin {
        address: client.address.map(|a| a.to_string()),
        user_agent: client.user_agent.clone(),
    };
    let request_id = request_id(parts);
    match credential {
        Credential::Token(id) => {
            if from_cookie {
                return Err(invalid);
            }
            let token = catalog.tokens.get(&id).ok_or(invalid)?;
            if token.expires_at.is_some_and(|at| at <= now) {
                return Err(invalid);
            }
            if let Some(owner) = token.owner
                && !catalog.users.get(&owner).is_some_and(|u| u.active)
            {
                return Err(invalid);
            }
            state.usage.token_used(id, now);
            Ok(Caller {
                actor: Actor::Token {
                    id,
                    name: token.name.clone(),
                },
                principal: Principal::Token { id },
                request_id,
                origin,
                access: Arc::new(access::token_access(&catalog, token)),
            })
        }
        Credential::Session(id) => {
            let session = catalog.sessions.get(&id).ok_or(invalid)?;
            let idle_ms =
                i64::try_from(state.settings.session_idle_timeout.as_millis()).unwrap_or(i64::MAX);
            let last_seen = state
                .usage
                .session_seen(id)
                .unwrap_or(0)
                .max(session.last_seen_at);
            if session.expires_at <= now || last_seen.saturating_add(idle_ms) <= now {
                return Err(invalid);
            }
            let user = catalog
                .users
                .get(&session.user_id)
                .filter(|u| u.active)
                .ok_or(invalid)?;
            if from_cookie && !safe(&parts.method) && !csrf_ok(&parts.headers, secret) {
                return Err(Refusal::Csrf);
            }
            state.usage.session_used(id, now);
            Ok(Caller {
                actor: Actor::User {
                    id: user.id,
                    email: user.email.clone(),
                },
                principal: Principal::Session {
                    id,
                    user_id: user.id,
                },
                request_id,
                origin,
                access: Arc::new(user_access(&catalog, user.id)),
            })
        }
    }
}

/// Longest request id kept (a client may choose its own).
const MAX_REQUEST_ID: usize = 128;

/// The request's id, as the audit log keeps it.
pub fn request_id(parts: &Parts) -> String {
    parts
        .headers
        .get(crate::api::REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .chars()
        .take(MAX_REQUEST_ID)
        .collect()
}

pub fn user_access(catalog: &Catalog, user_id: u32) -> Access {
    Access::of(catalog, access::user_assignments(catalog, user_id))
}

fn safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The header must carry the session's CSRF token, and a browser must not say the request
/// came from another site.
fn csrf_ok(headers: &HeaderMap, secret: &str) -> bool {
    let cross_site = headers
        .get("sec-fetch-site")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v == "cross-site");
    let given = headers
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let expected = csrf_token(secret);
    !cross_site && subtle::ConstantTimeEq::ct_eq(given.as_bytes(), expected.as_bytes()).into()
}
