//! `GET /admin/v1/projects/{id}/manifest`: a project as a flags file — everything applying
//! it elsewhere needs to serve the same flags to the same identities, and no secret.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::{Path, State};

use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::admin::compare::states_by_feature;
use crate::api::admin::values::json_value;
use crate::api::admin::{ApiError, find};
use crate::api::auth::Caller;
use crate::manifest::{
    EnvironmentSpec, FeatureSpec, FeatureType, FlagSpec, Manifest, OptionSpec, OverrideSpec,
    ProjectSpec, SegmentSpec, SettingsSpec, VERSION, VariantSpec,
};
use crate::store::Catalog;
use crate::store::records::{
    FeatureRecord, FeatureStateRecord, StoredFeatureKind, VariantWeightRecord,
};

pub async fn handler(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
) -> Result<Json<Manifest>, ApiError> {
    let catalog = state.store.catalog();
    let visible = |id: u32| {
        caller.can(
            &catalog,
            Permission::ViewEnvironment,
            Target::Environment(id),
        )
    };
    Ok(Json(manifest(&catalog, project_id, visible)?))
}

/// The flags file of project `project_id`, with the environments `visible` lets through (a
/// caller's export leaves out what they may not see; applying leaves those alone).
pub fn manifest(
    catalog: &Catalog,
    project_id: u32,
    visible: impl Fn(u32) -> bool,
) -> Result<Manifest, ApiError> {
    let project = find(&catalog.projects, "project", project_id)?;
    let segments = catalog
        .project_segments(project_id)
        .map(|s| SegmentSpec {
            name: s.name.clone(),
            id: Some(s.id),
            description: s.description.clone(),
            rules: s.rules.iter().map(crate::rules::to_json).collect(),
        })
        .collect();
    let features: Vec<&FeatureRecord> = catalog.project_features(project_id).collect();
    let feature_specs = features
        .iter()
        .map(|f| FeatureSpec {
            name: f.name.clone(),
            kind: match f.kind {
                StoredFeatureKind::Standard => FeatureType::Standard,
                StoredFeatureKind::Multivariate => FeatureType::Multivariate,
            },
            description: f.description.clone(),
            initial_value: json_value(&f.initial_value),
            default_enabled: f.default_enabled,
            server_key_only: f.server_key_only,
            tags: catalog.tags(f.id).to_vec(),
            archived: catalog.archived(f.id),
            options: f
                .options
                .iter()
                .map(|o| OptionSpec {
                    value: json_value(&o.value),
                    key: o.key.clone(),
                    default_weight: o.default_weight,
                })
                .collect(),
        })
        .collect();
    let environments = catalog
        .project_environments(project_id)
        .filter(|env| visible(env.id))
        .map(|env| {
            let mut states = states_by_feature(catalog, env.id);
            let mut flags = BTreeMap::new();
            for feature in &features {
                let Some(found) = states.remove(&feature.id) else {
                    continue;
                };
                let Some(default) = found.default else {
                    continue;
                };
                let mut overrides = found.overrides;
                overrides.sort_by_key(|(priority, segment_id, _)| (*priority, *segment_id));
                let segment_overrides = overrides
                    .iter()
                    .map(|(_, segment_id, s)| OverrideSpec {
                        segment: catalog
                            .segments
                            .get(segment_id)
                            .map_or_else(|| segment_id.to_string(), |x| x.name.clone()),
                        enabled: s.enabled,
                        value: json_value(&s.value),
                        seed: Some(s.hash_seed()),
                        variants: variants(feature, &s.variants),
                    })
                    .collect();
                flags.insert(
                    feature.name.clone(),
                    flag(feature, default, segment_overrides),
                );
            }
            let settings = &env.settings;
            EnvironmentSpec {
                name: env.name.clone(),
                client_key: Some(env.client_key.clone()),
                settings: SettingsSpec {
                    hide_disabled_flags: Some(settings.hide_disabled_flags),
                    hide_sensitive_data: Some(settings.hide_sensitive_data),
                    allow_client_traits: Some(settings.allow_client_traits),
                    use_identity_composite_key_for_hashing: Some(
                        settings.use_identity_composite_key_for_hashing,
                    ),
                    use_identity_overrides_in_local_eval: Some(
                        settings.use_identity_overrides_in_local_eval,
                    ),
                },
                flags,
            }
        })
        .collect();
    Ok(Manifest {
        version: VERSION,
        project: ProjectSpec {
            name: project.name.clone(),
            hide_disabled_flags: project.hide_disabled_flags,
        },
        segments,
        features: feature_specs,
        environments,
    })
}

fn flag(
    feature: &FeatureRecord,
    default: &FeatureStateRecord,
    segment_overrides: Vec<OverrideSpec>,
) -> FlagSpec {
    FlagSpec {
        enabled: default.enabled,
        value: json_value(&default.value),
        seed: Some(default.hash_seed()),
        variants: (!feature.options.is_empty()).then(|| variants(feature, &default.variants)),
        segment_overrides: Some(segment_overrides),
    }
}

/// Weights by option value, in the feature's option order.
fn variants(feature: &FeatureRecord, weights: &[VariantWeightRecord]) -> Vec<VariantSpec> {
    feature
        .options
        .iter()
        .filter_map(|option| {
            let weight = weights.iter().find(|w| w.option_id == option.id)?;
            Some(VariantSpec {
                option: json_value(&option.value),
                weight: weight.weight,
            })
        })
        .collect()
}
