//! `POST /admin/v1/environments/{id}/explain`: why an identity gets each flag in a live
//! environment — the segments it matches and why (each condition with the trait value it
//! was checked against), overrides, and split buckets — evaluated on the environment's
//! served snapshot, exactly as SDKs are answered. Nothing is written.

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::compare::require;
use super::values::stored_value;
use super::{ApiError, Body};
use crate::access::Permission;
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::engine::explain::explain;
use crate::model::{Identity, Scalar, Traits};

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// The identity; without it, the environment's defaults.
    identifier: Option<String>,
    /// Traits to evaluate with, over the stored ones.
    #[serde(default)]
    traits: Map<String, Value>,
    /// Start from the identity's stored traits (needs VIEW_IDENTITIES).
    #[serde(default = "yes")]
    stored_traits: bool,
}

pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(question): Body<Question>,
) -> Result<Json<Value>, ApiError> {
    let snapshot = state
        .snapshots
        .environment(id)
        .ok_or_else(|| ApiError::not_found("environment", id))?;
    let identity = match question.identifier {
        None if !question.traits.is_empty() => {
            return Err(ApiError::bad_request(
                "traits belong to an identity: give an identifier",
            ));
        }
        None => None,
        Some(identifier) => {
            crate::store::state_machine::check_identifier(&identifier)?;
            let mut traits = Traits::new();
            if question.stored_traits {
                let catalog = state.store.catalog();
                require(
                    &caller,
                    &catalog,
                    Permission::ViewIdentities,
                    id,
                    "explaining with stored traits",
                )?;
                if let Some((_, stored)) = state.store.identity(id, &identifier).await? {
                    for (key, value) in &stored {
                        traits.insert(key.clone(), Scalar::from(value));
                    }
                }
            }
            for (key, value) in &question.traits {
                traits.insert(key.clone(), Scalar::from(&stored_value(value)?));
            }
            Some(Identity {
                identifier,
                key: None,
                traits,
            })
        }
    };
    let text = explain(&snapshot.compiled, identity.as_ref())
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(Json(json!({
        "environment_id": id,
        "identifier": identity.as_ref().map(|i| &i.identifier),
        "explanation": text,
    })))
}
