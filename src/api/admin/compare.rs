//! `GET /admin/v1/environments/{id}/compare/{other_id}`: how two environments' flags differ,
//! per feature — enabled, value, multivariate weights, and segment overrides in their order.
//! Features are matched by name and options by value, segments by name, so environments of
//! two projects compare as well as two of one. Only what differs is listed.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Map, Value, json};

use super::values::json_value;
use super::{ApiError, find};
use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::Catalog;
use crate::store::records::{FeatureRecord, FeatureStateRecord, StateTarget, VariantWeightRecord};

/// A feature's configuration in one environment, in comparable form.
#[derive(Debug, PartialEq)]
pub struct Config {
    pub enabled: bool,
    pub value: Value,
    pub variants: Value,
    pub segment_overrides: Value,
}

impl Config {
    fn fields(&self) -> [(&'static str, &Value); 3] {
        [
            ("value", &self.value),
            ("variants", &self.variants),
            ("segment_overrides", &self.segment_overrides),
        ]
    }
}

/// Multivariate weights by option value, in the feature's option order.
fn variants(feature: &FeatureRecord, weights: &[VariantWeightRecord]) -> Value {
    feature
        .options
        .iter()
        .filter_map(|option| {
            let weight = weights.iter().find(|w| w.option_id == option.id)?;
            Some(json!({"option": json_value(&option.value), "weight": weight.weight}))
        })
        .collect()
}

/// A feature's states in one environment: its default, and its segment overrides as
/// (priority, segment id, state).
#[derive(Default)]
pub struct FeatureStates<'a> {
    pub default: Option<&'a FeatureStateRecord>,
    pub overrides: Vec<(u32, u32, &'a FeatureStateRecord)>,
}

/// The states of one environment, by feature.
pub fn states_by_feature(
    catalog: &Catalog,
    environment_id: u32,
) -> HashMap<u32, FeatureStates<'_>> {
    let mut by_feature: HashMap<u32, FeatureStates<'_>> = HashMap::new();
    for state in catalog.environment_states(environment_id) {
        let entry = by_feature.entry(state.feature_id).or_default();
        match &state.target {
            StateTarget::Environment => entry.default = Some(state),
            StateTarget::Segment {
                segment_id,
                priority,
            } => entry.overrides.push((*priority, *segment_id, state)),
            StateTarget::Identity { .. } => {}
        }
    }
    by_feature
}

/// Every feature of the environment's project with its configuration there, by name (in
/// lower case: names are unique regardless of case).
pub fn configs(
    catalog: &Catalog,
    environment_id: u32,
    project_id: u32,
) -> BTreeMap<String, (&FeatureRecord, Config)> {
    let mut states = states_by_feature(catalog, environment_id);
    catalog
        .project_features(project_id)
        .map(|feature| {
            let config = config(
                catalog,
                feature,
                states.remove(&feature.id).unwrap_or_default(),
            );
            (feature.name.to_lowercase(), (feature, config))
        })
        .collect()
}

/// A feature's configuration made of its default state and segment overrides.
pub fn config(catalog: &Catalog, feature: &FeatureRecord, states: FeatureStates<'_>) -> Config {
    let FeatureStates {
        default,
        mut overrides,
    } = states;
    overrides.sort_by_key(|(priority, segment_id, _)| (*priority, *segment_id));
    let segment_overrides = overrides
        .iter()
        .map(|(_, segment_id, state)| {
            let segment = catalog
                .segments
                .get(segment_id)
                .map_or_else(|| format!("segment {segment_id}"), |s| s.name.clone());
            json!({
                "segment": segment,
                "enabled": state.enabled,
                "value": json_value(&state.value),
                "variants": variants(feature, &state.variants),
            })
        })
        .collect();
    Config {
        enabled: default.is_some_and(|s| s.enabled),
        value: default.map_or(Value::Null, |s| json_value(&s.value)),
        variants: default.map_or_else(|| json!([]), |s| variants(feature, &s.variants)),
        segment_overrides,
    }
}

/// What differs between two configurations of a feature, field by field, as
/// `{"field": {"from": …, "to": …}}`.
pub fn changes(from: &Config, to: &Config) -> Map<String, Value> {
    let mut changes = Map::new();
    if from.enabled != to.enabled {
        changes.insert(
            "enabled".into(),
            json!({"from": from.enabled, "to": to.enabled}),
        );
    }
    for ((field, mine), (_, yours)) in from.fields().into_iter().zip(to.fields()) {
        if mine != yours {
            changes.insert(field.into(), json!({"from": mine, "to": yours}));
        }
    }
    changes
}

pub fn summary(catalog: &Catalog, id: u32) -> Value {
    let environment = catalog.environments.get(&id);
    json!({
        "id": id,
        "name": environment.map(|e| e.name.clone()),
        "project_id": environment.map(|e| e.project_id),
    })
}

/// The differences between environments `from` and `to`, as the API answers them.
pub fn compare(catalog: &Catalog, from: u32, to: u32) -> Result<Value, ApiError> {
    let from_env = find(&catalog.environments, "environment", from)?;
    let to_env = find(&catalog.environments, "environment", to)?;
    let ours = configs(catalog, from, from_env.project_id);
    let mut theirs = configs(catalog, to, to_env.project_id);
    let mut features = Vec::new();
    for (key, (feature, config)) in ours {
        let Some((_, other)) = theirs.remove(&key) else {
            features.push(json!({"feature": feature.name, "status": "only_in_from"}));
            continue;
        };
        if config == other {
            continue;
        }
        let changes = changes(&config, &other);
        features.push(json!({"feature": feature.name, "status": "changed", "changes": changes}));
    }
    for (feature, _) in theirs.into_values() {
        features.push(json!({"feature": feature.name, "status": "only_in_to"}));
    }
    features.sort_by(|a, b| {
        let name = |v: &Value| v["feature"].as_str().unwrap_or_default().to_lowercase();
        name(a).cmp(&name(b))
    });
    Ok(json!({
        "from": summary(catalog, from),
        "to": summary(catalog, to),
        "same": features.is_empty(),
        "features": features,
    }))
}

/// The route: the caller must see both environments (the route table checks the first).
pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, other_id)): Path<(u32, u32)>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.environments, "environment", other_id)?;
    require(
        &caller,
        &catalog,
        Permission::ViewEnvironment,
        other_id,
        "comparing",
    )?;
    Ok(Json(compare(&catalog, id, other_id)?))
}

/// Refuses (403) a caller who does not hold `permission` on environment `id`, which `doing`
/// needs (the route table checks only the environment or project of the path).
pub fn require(
    caller: &Caller,
    catalog: &Catalog,
    permission: Permission,
    id: u32,
    doing: &str,
) -> Result<(), ApiError> {
    if caller.can(catalog, permission, Target::Environment(id)) {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        "forbidden",
        format!("{doing} needs {} on environment {id}", permission.key()),
    ))
}
