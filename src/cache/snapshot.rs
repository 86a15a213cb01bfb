//! One environment's snapshot: the compiled environment plus every response body that does
//! not depend on the caller, serialised once.

use std::collections::HashMap;
use std::sync::Arc;

use axum::http::HeaderValue;

use serde::Serialize;
use serde_json::value::RawValue;

use crate::engine::CompiledEnvironment;
use crate::model::{
    Environment, FeatureState, IdentityOverride, Metadata, OverridePriority, Scalar, Segment,
    Variant, VariantOrder, Weight,
};
use crate::store::Catalog;
use crate::store::records::{
    EnvironmentRecord, FeatureRecord, FeatureStateRecord, StateTarget, StoredValue,
};

use super::document::{environment_document, iso_timestamp};
use super::evaluations::EvaluationCounters;
use super::representation::Representation;

/// What the SDK API needs to know of one feature, by the compiled feature's index.
#[derive(Debug)]
pub struct FeatureView {
    pub name: String,
    pub server_key_only: bool,
    /// The `feature` object of flag responses, serialised.
    pub json: Box<RawValue>,
}

/// An environment as served to SDKs.
#[derive(Debug)]
pub struct EnvironmentSnapshot {
    pub environment_id: u32,
    pub revision: u64,
    pub updated_at_ms: i64,
    /// `X-Flagsmith-Document-Updated-At`: Unix seconds as a float.
    pub updated_at_header: HeaderValue,
    /// `Last-Modified`: an HTTP date (second precision).
    pub last_modified: HeaderValue,
    pub hide_disabled_flags: bool,
    pub hide_sensitive_data: bool,
    pub allow_client_traits: bool,
    pub persist_trait_data: bool,
    pub stop_serving_flags: bool,
    pub compiled: CompiledEnvironment,
    /// By the compiled feature's index.
    pub features: Vec<FeatureView>,
    pub document: Representation,
    pub flags_for_client_keys: Representation,
    pub flags_for_server_keys: Representation,
    /// Single flags for `?feature=`, by name: (client body, server body); a missing entry
    /// for a kind means the feature is hidden from it.
    pub flag_by_name: HashMap<String, SingleFlag>,
    /// What SDK traffic evaluated, by compiled feature index (kept across rebuilds with the
    /// same features; see [`super::evaluations`]).
    pub evaluations: Arc<EvaluationCounters>,
}

/// One flag for `?feature=`: its compiled feature index, and its body as each kind of key
/// sees it (`None`: hidden from it).
#[derive(Debug)]
pub struct SingleFlag {
    pub index: usize,
    pub client: Option<Arc<Representation>>,
    pub server: Option<Arc<Representation>>,
}

impl SingleFlag {
    /// The body a kind of key gets (`None`: hidden from it).
    pub fn for_key(&self, server: bool) -> Option<&Arc<Representation>> {
        if server {
            self.server.as_ref()
        } else {
            self.client.as_ref()
        }
    }
}

/// The `feature` object of a flag.
#[derive(Serialize)]
struct FeatureJson<'a> {
    id: u32,
    name: &'a str,
    created_date: Option<String>,
    description: Option<&'a str>,
    initial_value: Option<String>,
    default_enabled: Option<bool>,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// One element of `/api/v1/flags/` (and, with `variant`, of identity flags).
#[derive(Serialize)]
pub struct FlagJson<'a> {
    pub id: Option<u32>,
    pub feature: &'a RawValue,
    pub feature_state_value: &'a Scalar,
    pub environment: Option<u32>,
    pub identity: Option<u32>,
    pub feature_segment: Option<u32>,
    pub enabled: bool,
}

/// Flagsmith's `initial_value`: the value as text.
fn initial_value_text(value: &StoredValue) -> Option<String> {
    match value {
        StoredValue::Null => None,
        StoredValue::Bool(b) => Some(b.to_string()),
        StoredValue::Integer(i) => Some(i.to_string()),
        StoredValue::Float(f) => Some(crate::engine::python::float_repr(*f)),
        StoredValue::String(s) => Some(s.clone()),
    }
}

impl EnvironmentSnapshot {
    /// Builds the snapshot of environment `id`; `None` if it no longer exists.
    pub fn build(catalog: &Catalog, id: u32) -> Option<Self> {
        let env = catalog.environments.get(&id)?;
        #[cfg(feature = "fault-injection")]
        crate::store::fault::panic_if_snapshot_asked(&env.name);
        let project = catalog.projects.get(&env.project_id)?;
        let organisation = catalog.organisations.get(&project.organisation_id);
        let mut features: Vec<&FeatureRecord> = catalog.served_features(project.id).collect();
        features.sort_by_key(|f| f.id);
        let mut feature_ids = Vec::with_capacity(features.len());
        let states: Vec<&FeatureStateRecord> = catalog.environment_states(id).collect();
        let domain = domain_environment(catalog, env, &features, &states);
        let compiled = CompiledEnvironment::compile(&domain);
        let hide_sensitive_data = env.settings.hide_sensitive_data;
        let views: Vec<FeatureView> = compiled
            .features()
            .iter()
            .filter_map(|compiled_feature| {
                let feature = features
                    .iter()
                    .find(|f| Some(f.id) == compiled_feature.feature_id)?;
                let json = FeatureJson {
                    id: feature.id,
                    name: &feature.name,
                    created_date: (!hide_sensitive_data).then(|| iso_timestamp(feature.created_at)),
                    description: if hide_sensitive_data {
                        None
                    } else {
                        feature.description.as_deref()
                    },
                    initial_value: if hide_sensitive_data {
                        None
                    } else {
                        initial_value_text(&feature.initial_value)
                    },
                    default_enabled: (!hide_sensitive_data).then_some(feature.default_enabled),
                    kind: crate::model::FeatureKind::from(feature.kind).as_str(),
                };
                let json = serde_json::value::to_raw_value(&json).ok()?;
                feature_ids.push(feature.id);
                Some(FeatureView {
                    name: feature.name.clone(),
                    server_key_only: feature.server_key_only,
                    json,
                })
            })
            .collect();
        if views.len() != compiled.features().len() {
            return None;
        }
        let hide_disabled_flags = env
            .settings
            .hide_disabled_flags
            .unwrap_or(project.hide_disabled_flags);
        let document = environment_document(catalog, env)
            .and_then(|d| serde_json::to_vec(&d).ok())
            .map(|body| Representation::new(bytes::Bytes::from(body)))?;
        let header = |text: String| HeaderValue::try_from(text).ok();
        let mut snapshot = Self {
            environment_id: env.id,
            revision: env.revision,
            updated_at_ms: env.updated_at,
            updated_at_header: header(format!("{}", env.updated_at as f64 / 1000.0))?,
            last_modified: header(http_date(env.updated_at))?,
            hide_disabled_flags,
            hide_sensitive_data,
            allow_client_traits: env.settings.allow_client_traits,
            persist_trait_data: organisation.is_none_or(|o| o.persist_trait_data),
            stop_serving_flags: organisation.is_some_and(|o| o.stop_serving_flags),
            compiled,
            features: views,
            document,
            flags_for_client_keys: Representation::new(bytes::Bytes::new()),
            flags_for_server_keys: Representation::new(bytes::Bytes::new()),
            flag_by_name: HashMap::new(),
            evaluations: Arc::new(EvaluationCounters::new(env.id, feature_ids)),
        };
        snapshot.precompute_flags();
        Some(snapshot)
    }

    /// Whether a flag is served to this kind of key.
    pub fn serves(&self, feature_index: usize, enabled: bool, server_key: bool) -> bool {
        (enabled || !self.hide_disabled_flags)
            && (server_key || !self.features[feature_index].server_key_only)
    }

    /// The flag element for a feature's environment default.
    fn default_flag(&self, index: usize) -> Option<FlagJson<'_>> {
        let feature = self.compiled.features().get(index)?;
        let state = feature.default_state();
        Some(FlagJson {
            id: if self.hide_sensitive_data {
                None
            } else {
                state.id
            },
            feature: &self.features[index].json,
            feature_state_value: &state.value,
            environment: (!self.hide_sensitive_data).then_some(self.environment_id),
            identity: None,
            feature_segment: None,
            enabled: state.enabled,
        })
    }

    fn precompute_flags(&mut self) {
        let mut client = Vec::new();
        let mut server = Vec::new();
        let mut by_name = HashMap::new();
        for index in 0..self.features.len() {
            let Some(flag) = self.default_flag(index) else {
                continue;
            };
            let enabled = flag.enabled;
            let body = serde_json::to_vec(&flag)
                .map(bytes::Bytes::from)
                .unwrap_or_default();
            let single = Arc::new(Representation::new(body.clone()));
            let for_client = self
                .serves(index, enabled, false)
                .then(|| Arc::clone(&single));
            let for_server = self.serves(index, enabled, true).then_some(single);
            if for_client.is_some() {
                client.push(body.clone());
            }
            if for_server.is_some() {
                server.push(body);
            }
            by_name.insert(
                self.features[index].name.clone(),
                SingleFlag {
                    index,
                    client: for_client,
                    server: for_server,
                },
            );
        }
        self.flags_for_client_keys = Representation::new(join_json(&client));
        self.flags_for_server_keys = Representation::new(join_json(&server));
        self.flag_by_name = by_name;
    }
}

/// `[a,b,c]` from already-serialised elements.
fn join_json(items: &[bytes::Bytes]) -> bytes::Bytes {
    let mut out = Vec::with_capacity(items.iter().map(|i| i.len() + 1).sum::<usize>() + 2);
    out.push(b'[');
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(item);
    }
    out.push(b']');
    bytes::Bytes::from(out)
}

/// An HTTP date (RFC 7231 IMF-fixdate) for milliseconds since the epoch.
pub fn http_date(millis: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp(millis.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
    );
    time.format(&format).unwrap_or_default()
}

fn domain_state(state: &FeatureStateRecord, feature: &FeatureRecord) -> FeatureState {
    let mut metadata = Metadata::new();
    metadata.insert("id".into(), feature.id.into());
    FeatureState {
        id: Some(state.id),
        feature_id: Some(feature.id),
        feature_name: feature.name.clone(),
        enabled: state.enabled,
        value: Scalar::from(&state.value),
        hash_seed: state.hash_seed(),
        variants: state
            .variants
            .iter()
            .filter_map(|w| {
                let option = feature.options.iter().find(|o| o.id == w.option_id)?;
                Some(Variant {
                    value: Scalar::from(&option.value),
                    weight: if w.weight.fract() == 0.0 {
                        Weight::integer(w.weight as i64)
                    } else {
                        Weight::float(w.weight)
                    },
                    order: VariantOrder::Number(f64::from(option.id)),
                    key: option.key.clone(),
                })
            })
            .collect(),
        priority: match state.target {
            StateTarget::Segment { priority, .. } => OverridePriority::Value(f64::from(priority)),
            _ => OverridePriority::Absent,
        },
        metadata: Some(metadata),
    }
}

/// The engine's view of an environment: features by id, segments by id, overrides.
fn domain_environment(
    catalog: &Catalog,
    env: &EnvironmentRecord,
    features: &[&FeatureRecord],
    states: &[&FeatureStateRecord],
) -> Environment {
    let feature_of = |id: u32| features.iter().copied().find(|f| f.id == id);
    let default_states = features
        .iter()
        .filter_map(|feature| {
            let state = states
                .iter()
                .find(|s| s.feature_id == feature.id && s.target == StateTarget::Environment)?;
            Some(domain_state(state, feature))
        })
        .collect();
    let segments = catalog
        .project_segments(env.project_id)
        .map(|segment| {
            let mut metadata = Metadata::new();
            metadata.insert("id".into(), segment.id.into());
            metadata.insert("source".into(), "api".into());
            Segment {
                id: Some(segment.id),
                key: segment.id.to_string(),
                name: segment.name.clone(),
                rules: segment.rules.iter().map(crate::rules::to_engine).collect(),
                overrides: states
                    .iter()
                    .filter(|s| matches!(s.target, StateTarget::Segment { segment_id, .. } if segment_id == segment.id))
                    .filter_map(|s| Some(domain_state(s, feature_of(s.feature_id)?)))
                    .collect(),
                metadata: Some(metadata),
            }
        })
        .collect();
    let mut identity_overrides: Vec<IdentityOverride> = Vec::new();
    for state in states {
        if let StateTarget::Identity { identifier } = &state.target {
            let Some(feature) = feature_of(state.feature_id) else {
                continue;
            };
            let domain = domain_state(state, feature);
            match identity_overrides
                .iter_mut()
                .find(|o| o.identifier == *identifier)
            {
                Some(existing) => existing.overrides.push(domain),
                None => identity_overrides.push(IdentityOverride {
                    identifier: identifier.clone(),
                    overrides: vec![domain],
                }),
            }
        }
    }
    Environment {
        key: env.client_key.clone(),
        name: env.name.clone(),
        features: default_states,
        segments,
        identity_overrides,
    }
}
