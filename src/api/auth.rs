//! Who is calling the admin API: an API token (`Authorization: Bearer <token>`), looked up
//! by its SHA-256. Permissions and sessions slot in here.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use crate::store::command::Actor;

use super::AppState;
use super::admin::ApiError;

/// An authenticated admin caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub actor: Actor,
    pub request_id: String,
}

/// SHA-256 of a secret, as stored.
pub use crate::secrets::secret_hash;

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("Token "))
            })
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::unauthorized("an API token is required: Authorization: Bearer <token>")
            })?;
        let hash = secret_hash(token);
        let catalog = state.store.catalog();
        let record = catalog
            .tokens
            .values()
            .find(|t| t.token_hash == hash)
            .ok_or_else(|| ApiError::unauthorized("the API token is not valid"))?;
        let request_id = parts
            .headers
            .get(super::REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        Ok(Self {
            actor: Actor::Token {
                id: record.id,
                name: record.name.clone(),
            },
            request_id,
        })
    }
}
