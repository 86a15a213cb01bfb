//! API tokens: the organisation's (`/admin/v1/tokens`, named, with a role or permissions at
//! a scope, at most their creator's) and personal ones (`/admin/v1/auth/tokens`, carrying
//! their owner's permissions). A secret is shown once, when it is made.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::people_views::{self, parse_permissions, parse_role, parse_scope};
use super::{ApiError, Body, Page, by_id, created, created_id, execute, find};
use crate::access::{Assignment, RoleRef};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::config::parse_duration;
use crate::secrets::secret_hash;
use crate::store::command::{Command, NewToken};
use crate::store::people::TokenAccess;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/tokens", get(list).post(create))
        .route("/admin/v1/tokens/{id}", delete(revoke))
        .route("/admin/v1/tokens/{id}/rotate", post(rotate))
        .route(
            "/admin/v1/auth/tokens",
            get(list_personal).post(create_personal),
        )
        .route("/admin/v1/auth/tokens/{id}", delete(revoke_personal))
}

/// A new token secret and the prefix lists show.
pub fn new_secret() -> Result<(String, String), ApiError> {
    let secret = super::environments::new_secret("bgt_")?;
    let prefix = secret.chars().take(10).collect();
    Ok((secret, prefix))
}

/// `expires_in` (`30d`, `12h`) as an absolute time.
pub fn expiry(expires_in: Option<&str>) -> Result<Option<i64>, ApiError> {
    expires_in
        .map(|text| {
            let duration = parse_duration(text).map_err(ApiError::bad_request)?;
            if duration.is_zero() {
                return Err(ApiError::bad_request("expires_in must be longer than zero"));
            }
            Ok(crate::clock::now_millis()
                .saturating_add(i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)))
        })
        .transpose()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewTokenBody {
    name: String,
    /// A role's name; or give `permissions`.
    #[serde(default, deserialize_with = "super::body::given")]
    role: Option<String>,
    #[serde(default, deserialize_with = "super::body::given")]
    permissions: Option<Vec<String>>,
    #[serde(default, deserialize_with = "super::body::given")]
    project_id: Option<u32>,
    #[serde(default, deserialize_with = "super::body::given")]
    environment_id: Option<u32>,
    #[serde(default, deserialize_with = "super::body::given")]
    expires_in: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    Ok(Json(
        page.of(catalog
            .tokens
            .values()
            .filter(|t| t.access != TokenAccess::Owner)
            .map(|t| (by_id(t.id), people_views::token(t, &catalog))))?,
    ))
}

async fn issue(
    state: &AppState,
    caller: &Caller,
    name: String,
    access: TokenAccess,
    personal: bool,
    expires_at: Option<i64>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (secret, prefix) = new_secret()?;
    let command = Command::CreateApiToken(NewToken {
        name,
        token_hash: secret_hash(&secret),
        prefix,
        access,
        personal,
        expires_at,
    });
    let id = created_id(&execute(state, caller, command).await?)?;
    let catalog = state.store.catalog();
    let mut view = people_views::token(find(&catalog.tokens, "token", id)?, &catalog);
    view["token"] = json!(secret);
    Ok(created(view))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewTokenBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let catalog = state.store.catalog();
    let role = match (&body.role, &body.permissions) {
        (Some(role), None) => parse_role(role, &catalog)?,
        (None, Some(keys)) => RoleRef::Explicit(parse_permissions(keys)?),
        _ => {
            return Err(ApiError::bad_request(
                "give a role or a list of permissions",
            ));
        }
    };
    let access = TokenAccess::Assignments(vec![Assignment {
        role,
        scope: parse_scope(body.project_id, body.environment_id)?,
    }]);
    let expires_at = expiry(body.expires_in.as_deref())?;
    issue(&state, &caller, body.name, access, false, expires_at).await
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    execute(&state, &caller, Command::RevokeApiToken { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the old secret keeps working (default: it stops now).
    #[serde(default, deserialize_with = "super::body::given")]
    grace: Option<String>,
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<Rotation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (secret, prefix) = new_secret()?;
    let old_expires_at = expiry(body.grace.as_deref())?;
    let command = Command::RotateApiToken {
        id,
        token_hash: secret_hash(&secret),
        prefix,
        old_expires_at,
    };
    let new_id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    let mut view = people_views::token(find(&catalog.tokens, "token", new_id)?, &catalog);
    view["token"] = json!(secret);
    view["replaces"] = json!(id);
    Ok(created(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPersonal {
    name: String,
    #[serde(default, deserialize_with = "super::body::given")]
    expires_in: Option<String>,
}

async fn list_personal(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let me = caller.user_id(&catalog);
    Ok(Json(
        page.of(catalog
            .tokens
            .values()
            .filter(|t| me.is_some() && t.access == TokenAccess::Owner && t.owner == me)
            .map(|t| (by_id(t.id), people_views::token(t, &catalog))))?,
    ))
}

async fn create_personal(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewPersonal>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let expires_at = expiry(body.expires_in.as_deref())?;
    issue(
        &state,
        &caller,
        body.name,
        TokenAccess::Owner,
        true,
        expires_at,
    )
    .await
}

async fn revoke_personal(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    let catalog = state.store.catalog();
    let me = caller.user_id(&catalog);
    // Only one's own personal tokens are found here.
    let mine = catalog
        .tokens
        .get(&id)
        .is_some_and(|t| me.is_some() && t.owner == me && t.access == TokenAccess::Owner);
    if !mine {
        return Err(ApiError::not_found("personal token", id));
    }
    execute(&state, &caller, Command::RevokeApiToken { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
