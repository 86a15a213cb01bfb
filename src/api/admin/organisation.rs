//! `/admin/v1/organisation`: the default organisation's settings.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::cache::document::iso_timestamp;
use crate::store::command::Command;

use super::{ApiError, Body, execute};

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/organisation", get(read).patch(update))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    /// When false, identify calls never store traits.
    #[serde(default, deserialize_with = "super::body::given")]
    persist_trait_data: Option<bool>,
    /// When true, every SDK call is refused (403).
    #[serde(default, deserialize_with = "super::body::given")]
    stop_serving_flags: Option<bool>,
}

async fn read(State(state): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let organisation = catalog
        .organisation()
        .ok_or_else(|| ApiError::not_found("organisation", "default"))?;
    Ok(Json(json!({
        "id": organisation.id,
        "name": organisation.name,
        "persist_trait_data": organisation.persist_trait_data,
        "stop_serving_flags": organisation.stop_serving_flags,
        "created_at": iso_timestamp(organisation.created_at),
    })))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Changes>,
) -> Result<Json<Value>, ApiError> {
    let command = Command::UpdateOrganisation {
        name: body.name,
        persist_trait_data: body.persist_trait_data,
        stop_serving_flags: body.stop_serving_flags,
    };
    execute(&state, &caller, command).await?;
    read(State(state), caller).await
}
