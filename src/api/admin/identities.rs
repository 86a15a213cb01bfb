//! `/admin/v1/environments/{id}/identities`: traits, identity overrides, and deletion (GDPR).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::cache::document::iso_timestamp;
use crate::store::command::{Command, TraitWrite};
use crate::store::records::StateTarget;
use crate::store::{Applied, StoredValue};

use super::environments::StateBody;
use super::values::json_value;
use super::{ApiError, Body, Page, execute, views};

/// Rows (identities and traits) deleted per command when emptying an environment: bounds
/// each transaction, so other writes interleave.
const DELETE_BATCH_ROWS: u32 = 5000;

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/environments/{id}/identities",
            get(list).delete(remove_all),
        )
        .route(
            "/admin/v1/environments/{id}/identities/{identifier}",
            get(read).delete(remove),
        )
        .route(
            "/admin/v1/environments/{id}/identities/{identifier}/traits",
            put(set_traits),
        )
        .route(
            "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}",
            put(set_override).delete(remove_override),
        )
}

fn check_environment(state: &AppState, id: u32) -> Result<(), ApiError> {
    state
        .store
        .catalog()
        .environments
        .get(&id)
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("environment", id))
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    check_environment(&state, id)?;
    let limit = page.limit()?;
    let after: Option<String> = page.after()?;
    let rows = state.store.identities(id, after, limit + 1).await?;
    let items: Vec<(String, Value)> = rows
        .into_iter()
        .map(|(identifier, record)| {
            let item = json!({"id": record.id, "identifier": identifier, "created_at": iso_timestamp(record.created_at)});
            (identifier, item)
        })
        .collect();
    Ok(Json(Page::render(items, limit)))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path((id, identifier)): Path<(u32, String)>,
) -> Result<Json<Value>, ApiError> {
    check_environment(&state, id)?;
    let found = state.store.identity(id, &identifier).await?;
    let catalog = state.store.catalog();
    let overrides: Vec<Value> = catalog
        .environment_states(id)
        .filter(
            |s| matches!(&s.target, StateTarget::Identity { identifier: i } if *i == identifier),
        )
        .map(views::state)
        .collect();
    let Some((record, traits)) = found else {
        if overrides.is_empty() {
            return Err(ApiError::not_found("identity", format!("{identifier:?}")));
        }
        return Ok(Json(
            json!({"identifier": identifier, "id": null, "traits": {}, "overrides": overrides}),
        ));
    };
    let traits: Map<String, Value> = traits
        .iter()
        .map(|(k, v)| (k.clone(), json_value(v)))
        .collect();
    Ok(Json(json!({
        "id": record.id,
        "identifier": identifier,
        "created_at": iso_timestamp(record.created_at),
        "traits": traits,
        "overrides": overrides,
    })))
}

/// `{"traits": {"name": value or null}}`: sets or (null) deletes traits.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraitsBody {
    traits: Map<String, Value>,
}

async fn set_traits(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, identifier)): Path<(u32, String)>,
    Body(body): Body<TraitsBody>,
) -> Result<Json<Value>, ApiError> {
    let mut writes = Vec::new();
    for (key, value) in body.traits {
        if key.is_empty() || key.chars().count() > 200 {
            return Err(ApiError::bad_request(
                "a trait name must be 1 to 200 characters",
            ));
        }
        let value = match value {
            Value::Null => None,
            Value::Bool(b) => Some(StoredValue::Bool(b)),
            Value::Number(n) => Some(n.as_i64().map_or_else(
                || StoredValue::Float(n.as_f64().unwrap_or(0.0)),
                StoredValue::Integer,
            )),
            Value::String(s) if s.chars().count() > 2000 => {
                return Err(ApiError::bad_request(format!(
                    "trait {key:?} is longer than 2000 characters"
                )));
            }
            Value::String(s) => Some(StoredValue::String(s)),
            Value::Array(_) | Value::Object(_) => {
                return Err(ApiError::bad_request(format!(
                    "trait {key:?} must be a string, number, boolean or null"
                )));
            }
        };
        writes.push(TraitWrite { key, value });
    }
    let max_traits = state.settings.max_traits_per_identity;
    execute(
        &state,
        &caller,
        Command::Identify {
            environment_id: id,
            identifier: identifier.clone(),
            traits: writes,
            max_traits,
        },
    )
    .await?;
    read(State(state), caller, Path((id, identifier))).await
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, identifier)): Path<(u32, String)>,
) -> Result<StatusCode, ApiError> {
    execute(
        &state,
        &caller,
        Command::DeleteIdentity {
            environment_id: id,
            identifier,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Deletes every identity of the environment, in bounded batches.
async fn remove_all(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let mut total = 0u64;
    while let Applied::Removed { count, more } = execute(
        &state,
        &caller,
        Command::DeleteIdentities {
            environment_id: id,
            max_rows: DELETE_BATCH_ROWS,
        },
    )
    .await?
    {
        total += u64::from(count);
        if !more {
            break;
        }
    }
    Ok(Json(json!({"deleted": total})))
}

async fn set_override(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, identifier, feature_id)): Path<(u32, String, u32)>,
    Body(body): Body<StateBody>,
) -> Result<Json<Value>, ApiError> {
    if body.variants.is_some() {
        return Err(ApiError::bad_request(
            "identity overrides serve one value: they take no variants",
        ));
    }
    let patch = body.patch()?;
    execute(
        &state,
        &caller,
        Command::SetIdentityOverride {
            environment_id: id,
            feature_id,
            identifier: identifier.clone(),
            patch,
        },
    )
    .await?;
    read(State(state), caller, Path((id, identifier))).await
}

async fn remove_override(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, identifier, feature_id)): Path<(u32, String, u32)>,
) -> Result<StatusCode, ApiError> {
    execute(
        &state,
        &caller,
        Command::DeleteIdentityOverride {
            environment_id: id,
            feature_id,
            identifier,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
