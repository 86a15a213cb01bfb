//! The environment document as Flagsmith's SDKs read it, built from the catalog.

use crate::flagsmith::document::{
    EnvironmentDocument, FeatureDocument, FeatureSegmentDocument, FeatureStateDocument,
    IdentityOverrideDocument, MultivariateOptionDocument, MultivariateValueDocument,
    OrganisationDocument, ProjectDocument, SegmentDocument,
};
use crate::model::{Metadata, Scalar};
use crate::store::Catalog;
use crate::store::records::{
    EnvironmentRecord, FeatureRecord, FeatureStateRecord, StateTarget, StoredFeatureKind,
};

/// Formats milliseconds since the epoch as Flagsmith's ISO 8601 (`...T16:44:17.123000Z`).
pub fn iso_timestamp(millis: i64) -> String {
    let time = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"
    );
    time.format(&format).unwrap_or_default()
}

fn feature_document(feature: &FeatureRecord) -> FeatureDocument {
    FeatureDocument {
        id: feature.id,
        name: feature.name.clone(),
        kind: match feature.kind {
            StoredFeatureKind::Standard => "STANDARD",
            StoredFeatureKind::Multivariate => "MULTIVARIATE",
        }
        .to_owned(),
    }
}

/// A stable UUID for a multivariate value of a state.
fn value_uuid(state_uuid: &str, option_id: u32) -> String {
    crate::store::records::stable_uuid(&[state_uuid.as_bytes(), &option_id.to_be_bytes()])
}

pub fn state_document(state: &FeatureStateRecord, feature: &FeatureRecord) -> FeatureStateDocument {
    let mut variants: Vec<MultivariateValueDocument> = state
        .variants
        .iter()
        .filter_map(|weight| {
            let option = feature.options.iter().find(|o| o.id == weight.option_id)?;
            Some(MultivariateValueDocument {
                id: Some(u64::from(option.id)),
                mv_fs_value_uuid: Some(value_uuid(&state.uuid, option.id)),
                percentage_allocation: number(weight.weight),
                multivariate_feature_option: MultivariateOptionDocument {
                    value: Scalar::from(&option.value),
                    id: Some(u64::from(option.id)),
                    key: option.key.clone(),
                },
            })
        })
        .collect();
    variants.sort_by_key(|v| v.id);
    FeatureStateDocument {
        feature: feature_document(feature),
        enabled: state.enabled,
        feature_state_value: Scalar::from(&state.value),
        django_id: state.django_id,
        featurestate_uuid: Some(state.uuid.clone()),
        feature_segment: match state.target {
            StateTarget::Segment { priority, .. } => Some(FeatureSegmentDocument {
                priority: Some(Some(priority.into())),
            }),
            _ => None,
        },
        multivariate_feature_state_values: variants,
    }
}

/// A weight as a JSON number: integral weights print as integers.
fn number(value: f64) -> serde_json::Number {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        serde_json::Number::from(value as i64)
    } else {
        serde_json::Number::from_f64(value).unwrap_or_else(|| serde_json::Number::from(0))
    }
}

/// The whole document of an environment.
pub fn environment_document(
    catalog: &Catalog,
    env: &EnvironmentRecord,
) -> Option<EnvironmentDocument> {
    let project = catalog.projects.get(&env.project_id)?;
    let organisation = catalog
        .organisations
        .get(&project.organisation_id)
        .or_else(|| catalog.organisation());
    let features: Vec<&FeatureRecord> = catalog.served_features(project.id).collect();
    let feature_of = |id: u32| features.iter().copied().find(|f| f.id == id);
    let states: Vec<&FeatureStateRecord> = catalog.environment_states(env.id).collect();
    let segments = catalog
        .project_segments(project.id)
        .map(|segment| {
            let mut overrides: Vec<&&FeatureStateRecord> = states
                .iter()
                .filter(|s| matches!(s.target, StateTarget::Segment { segment_id, .. } if segment_id == segment.id))
                .collect();
            overrides.sort_by_key(|s| s.feature_id);
            SegmentDocument {
                id: segment.id,
                name: segment.name.clone(),
                rules: segment.rules.iter().map(crate::rules::to_document).collect(),
                feature_states: overrides
                    .into_iter()
                    .filter_map(|s| Some(state_document(s, feature_of(s.feature_id)?)))
                    .collect(),
            }
        })
        .collect();
    let feature_states = features
        .iter()
        .filter_map(|feature| {
            let state = states
                .iter()
                .find(|s| s.feature_id == feature.id && s.target == StateTarget::Environment)?;
            Some(state_document(state, feature))
        })
        .collect();
    let identity_overrides = if env.settings.use_identity_overrides_in_local_eval {
        identity_override_documents(env, &states, &feature_of)
    } else {
        Vec::new()
    };
    Some(EnvironmentDocument {
        id: env.id,
        api_key: env.client_key.clone(),
        name: env.name.clone(),
        project: ProjectDocument {
            id: project.id,
            name: project.name.clone(),
            organisation: OrganisationDocument {
                id: organisation.map_or(1, |o| o.id),
                name: organisation.map_or_else(|| "default".to_owned(), |o| o.name.clone()),
                feature_analytics: organisation.is_some_and(|o| o.feature_analytics),
                stop_serving_flags: organisation.is_some_and(|o| o.stop_serving_flags),
                persist_trait_data: organisation.is_none_or(|o| o.persist_trait_data),
            },
            hide_disabled_flags: project.hide_disabled_flags,
            segments,
            enable_realtime_updates: project.enable_realtime_updates,
            server_key_only_feature_ids: features
                .iter()
                .filter(|f| f.server_key_only)
                .map(|f| f.id)
                .collect(),
        },
        feature_states,
        identity_overrides,
        updated_at: Some(iso_timestamp(env.updated_at)),
        allow_client_traits: env.settings.allow_client_traits,
        hide_sensitive_data: env.settings.hide_sensitive_data,
        hide_disabled_flags: env.settings.hide_disabled_flags,
        use_identity_composite_key_for_hashing: env.settings.use_identity_composite_key_for_hashing,
        use_identity_overrides_in_local_eval: env.settings.use_identity_overrides_in_local_eval,
    })
}

fn identity_override_documents<'a>(
    env: &EnvironmentRecord,
    states: &[&'a FeatureStateRecord],
    feature_of: &dyn Fn(u32) -> Option<&'a FeatureRecord>,
) -> Vec<IdentityOverrideDocument> {
    let mut by_identifier: std::collections::BTreeMap<&str, Vec<&FeatureStateRecord>> =
        Default::default();
    for state in states {
        if let StateTarget::Identity { identifier } = &state.target {
            by_identifier
                .entry(identifier.as_str())
                .or_default()
                .push(state);
        }
    }
    by_identifier
        .into_iter()
        .map(|(identifier, states)| {
            let mut rest = Metadata::new();
            let created = states
                .iter()
                .map(|s| s.updated_at)
                .min()
                .unwrap_or(env.created_at);
            rest.insert("environment_api_key".into(), env.client_key.clone().into());
            rest.insert("created_date".into(), iso_timestamp(created).into());
            rest.insert("identity_uuid".into(), value_uuid(identifier, 0).into());
            rest.insert("django_id".into(), serde_json::Value::Null);
            rest.insert(
                "composite_key".into(),
                format!("{}_{identifier}", env.client_key).into(),
            );
            rest.insert("dashboard_alias".into(), serde_json::Value::Null);
            rest.insert(
                "identity_traits".into(),
                serde_json::Value::Array(Vec::new()),
            );
            IdentityOverrideDocument {
                identifier: identifier.to_owned(),
                identity_features: states
                    .iter()
                    .filter_map(|s| {
                        let mut document = state_document(s, feature_of(s.feature_id)?);
                        document.multivariate_feature_state_values.clear();
                        Some(document)
                    })
                    .collect(),
                rest,
            }
        })
        .collect()
}
