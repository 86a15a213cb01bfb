//! `POST /admin/v1/import/flagsmith`: a Flagsmith environment document becomes an
//! environment, keeping everything that decides who gets which flag.

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::engine::validate::validate_environment;
use crate::flagsmith::document::{EnvironmentDocument, FeatureStateDocument};
use crate::store::command::{
    Command, ImportedEnvironment, ImportedFeature, ImportedOption, ImportedSegment, ImportedState,
    ImportedTarget,
};
use crate::store::records::{EnvironmentSettingsRecord, StoredFeatureKind, StoredValue};

use super::{ApiError, Body, created, created_id, execute, find, views};

pub fn router(max_import_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/admin/v1/import/flagsmith", post(import))
        .layer(axum::extract::DefaultBodyLimit::max(max_import_bytes))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportQuery {
    project: Option<String>,
    #[serde(default)]
    replace: bool,
}

/// Checks that refuse a document: what Flagsmith itself would fail on, and what Burgee
/// cannot evaluate (patterns the `regex` crate cannot compile).
const REFUSED: [&str; 5] = [
    "invalid_regex",
    "modulo_by_zero",
    "null_priority",
    "weights_over_100",
    "invalid_weight",
];

async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<ImportQuery>,
    Body(document): Body<EnvironmentDocument>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let issues: Vec<_> = validate_environment(&document.to_environment())
        .into_iter()
        .filter(|i| REFUSED.contains(&i.code))
        .collect();
    if !issues.is_empty() {
        return Err(ApiError::invalid("invalid_document", &issues));
    }
    let imported = imported_environment(&document, query.project, query.replace)?;
    let id = created_id(
        &execute(
            &state,
            &caller,
            Command::ImportEnvironment(Box::new(imported)),
        )
        .await?,
    )?;
    let catalog = state.store.catalog();
    let env = find(&catalog.environments, "environment", id)?;
    Ok(created(views::environment(env)))
}

fn value(scalar: &crate::model::Scalar) -> StoredValue {
    StoredValue::from(scalar)
}

/// An option's source id: the option's id, else the value's id.
fn option_source(mv: &crate::flagsmith::document::MultivariateValueDocument, index: usize) -> u64 {
    mv.multivariate_feature_option
        .id
        .or(mv.id)
        .unwrap_or(index as u64)
}

fn imported_state(state: &FeatureStateDocument, target: ImportedTarget) -> ImportedState {
    ImportedState {
        feature_name: state.feature.name.clone(),
        target,
        enabled: state.enabled,
        value: value(&state.feature_state_value),
        django_id: state.django_id,
        uuid: state
            .featurestate_uuid
            .clone()
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        variants: state
            .multivariate_feature_state_values
            .iter()
            .enumerate()
            .map(|(i, mv)| {
                (
                    option_source(mv, i),
                    mv.percentage_allocation.as_f64().unwrap_or(0.0),
                )
            })
            .collect(),
    }
}

fn imported_environment(
    document: &EnvironmentDocument,
    project: Option<String>,
    replace: bool,
) -> Result<ImportedEnvironment, ApiError> {
    let mut features: BTreeMap<String, ImportedFeature> = BTreeMap::new();
    let mut all_states: Vec<&FeatureStateDocument> = document.feature_states.iter().collect();
    for segment in &document.project.segments {
        all_states.extend(&segment.feature_states);
    }
    for identity in &document.identity_overrides {
        all_states.extend(&identity.identity_features);
    }
    for state in &all_states {
        let feature = features
            .entry(state.feature.name.clone())
            .or_insert_with(|| ImportedFeature {
                name: state.feature.name.clone(),
                kind: if state.feature.kind == "MULTIVARIATE" {
                    StoredFeatureKind::Multivariate
                } else {
                    StoredFeatureKind::Standard
                },
                server_key_only: document
                    .project
                    .server_key_only_feature_ids
                    .contains(&state.feature.id),
                options: Vec::new(),
            });
        for (i, mv) in state.multivariate_feature_state_values.iter().enumerate() {
            let source_id = option_source(mv, i);
            if !feature.options.iter().any(|o| o.source_id == source_id) {
                feature.options.push(ImportedOption {
                    source_id,
                    value: value(&mv.multivariate_feature_option.value),
                    key: mv.multivariate_feature_option.key.clone(),
                });
                feature.kind = StoredFeatureKind::Multivariate;
            }
        }
    }
    for feature in features.values_mut() {
        feature.options.sort_by_key(|o| o.source_id);
    }
    let mut states: Vec<ImportedState> = document
        .feature_states
        .iter()
        .map(|s| imported_state(s, ImportedTarget::Environment))
        .collect();
    for segment in &document.project.segments {
        for state in &segment.feature_states {
            let priority = state
                .feature_segment
                .as_ref()
                .and_then(|f| f.priority.clone().flatten())
                .and_then(|p| p.as_f64())
                .map_or(u32::MAX, |p| p.clamp(0.0, f64::from(u32::MAX)) as u32);
            states.push(imported_state(
                state,
                ImportedTarget::Segment {
                    segment_id: segment.id,
                    priority,
                },
            ));
        }
    }
    for identity in &document.identity_overrides {
        for state in &identity.identity_features {
            let mut state = imported_state(
                state,
                ImportedTarget::Identity {
                    identifier: identity.identifier.clone(),
                },
            );
            state.variants.clear();
            states.push(state);
        }
    }
    Ok(ImportedEnvironment {
        project_name: project.unwrap_or_else(|| document.project.name.clone()),
        project_hide_disabled_flags: document.project.hide_disabled_flags,
        name: if document.name.is_empty() {
            format!("imported {}", document.api_key)
        } else {
            document.name.clone()
        },
        client_key: document.api_key.clone(),
        settings: EnvironmentSettingsRecord {
            hide_disabled_flags: document.hide_disabled_flags,
            hide_sensitive_data: document.hide_sensitive_data,
            allow_client_traits: document.allow_client_traits,
            use_identity_composite_key_for_hashing: document.use_identity_composite_key_for_hashing,
            use_identity_overrides_in_local_eval: document.use_identity_overrides_in_local_eval,
        },
        replace,
        features: features.into_values().collect(),
        segments: document
            .project
            .segments
            .iter()
            .map(|s| ImportedSegment {
                id: s.id,
                name: s.name.clone(),
                rules: s.rules.iter().map(crate::rules::from_document).collect(),
            })
            .collect(),
        states,
    })
}
