//! Server-side keys (`ser.…`): created (shown once), listed, revoked.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::AppState;
use crate::api::auth::{Caller, secret_hash};
use crate::store::command::Command;

use super::environments::random_text;
use super::{ApiError, Body, Page, by_id, created, created_id, execute, find, views};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/environments/{id}/server-keys",
            get(list).post(create),
        )
        .route("/admin/v1/server-keys/{id}", delete(revoke))
        .route("/admin/v1/server-keys/{id}/rotate", post(rotate))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewKey {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    /// e.g. `90d`; without it, the key works until revoked.
    #[serde(default, deserialize_with = "super::body::given")]
    expires_in: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Rotation {
    /// How long the old key keeps working (e.g. `24h`); without it, until it is revoked.
    #[serde(default, deserialize_with = "super::body::given")]
    old_expires_in: Option<String>,
}

fn new_key() -> Result<(String, [u8; 32], String), ApiError> {
    let key = format!("ser.{}", random_text(40)?);
    let hash = secret_hash(&key);
    let prefix = key.chars().take(8).collect();
    Ok((key, hash, prefix))
}

fn shown_once(state: &AppState, key_id: u32, key: &str) -> Result<Value, ApiError> {
    let catalog = state.store.catalog();
    let record = find(&catalog.server_keys, "server key", key_id)?;
    let mut view = views::server_key(record);
    // The only time the key is shown.
    view["key"] = json!(key);
    Ok(view)
}

async fn rotate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<Rotation>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (key, key_hash, prefix) = new_key()?;
    let old_expires_at = super::tokens::expiry(body.old_expires_in.as_deref())?;
    let command = Command::RotateServerKey {
        id,
        key_hash,
        prefix,
        old_expires_at,
    };
    let key_id = created_id(&execute(&state, &caller, command).await?)?;
    let mut view = shown_once(&state, key_id, &key)?;
    view["replaces"] = json!(id);
    Ok(created(view))
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.environments, "environment", id)?;
    Ok(Json(
        page.of(catalog
            .server_keys
            .values()
            .filter(|k| k.environment_id == id)
            .map(|k| (by_id(k.id), views::server_key(k))))?,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<NewKey>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (key, key_hash, prefix) = new_key()?;
    let command = Command::CreateServerKey {
        environment_id: id,
        name: body.name.unwrap_or_else(|| "server key".to_owned()),
        key_hash,
        prefix,
        expires_at: super::tokens::expiry(body.expires_in.as_deref())?,
    };
    let key_id = created_id(&execute(&state, &caller, command).await?)?;
    Ok(created(shown_once(&state, key_id, &key)?))
}

async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    execute(&state, &caller, Command::RevokeServerKey { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
