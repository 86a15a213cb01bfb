//! Who is calling the admin API and whether they may: credentials (API tokens, sessions by
//! cookie or bearer, the local socket), the route table that says what each admin route
//! needs ([`routes`]), and the one middleware that enforces it ([`routes::authorize`]).
//! Handlers receive an authorised [`Caller`] and never check permissions themselves; lists
//! filter what they show with [`Caller::can`], the same check.

pub mod authenticate;
pub mod client;
pub mod limiter;
pub mod password;
pub mod routes;
pub mod usage;

use std::sync::Arc;

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;

use crate::access::{Access, Permission, Target};
use crate::store::Catalog;
use crate::store::command::{Actor, Origin};

use super::AppState;
use super::admin::ApiError;

/// SHA-256 of a secret, as stored.
pub use crate::secrets::secret_hash;

/// The credential a request came with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Token {
        id: u32,
    },
    Session {
        id: u32,
        user_id: u32,
    },
    /// The local admin socket.
    Local,
}

/// An authenticated, authorised admin caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub principal: Principal,
    pub request_id: String,
    pub origin: Origin,
    pub access: Arc<Access>,
}

impl Caller {
    /// The one permission check (lists use it to leave out what the caller may not see).
    pub fn can(&self, catalog: &Catalog, permission: Permission, target: Target) -> bool {
        self.access.allows(catalog, permission, target)
    }

    /// The signed-in user behind the call (a session's, or a personal token's owner).
    pub fn user_id(&self, catalog: &Catalog) -> Option<u32> {
        match self.principal {
            Principal::Session { user_id, .. } => Some(user_id),
            Principal::Token { id } => catalog.tokens.get(&id).and_then(|t| {
                (t.access == crate::store::people::TokenAccess::Owner)
                    .then_some(t.owner)
                    .flatten()
            }),
            Principal::Local => None,
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &AppState) -> Result<Self, Self::Rejection> {
        // Set by `routes::authorize`; a route missing from the route table never gets one.
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "undeclared_route",
                "this route declares no permission",
            )
        })
    }
}
