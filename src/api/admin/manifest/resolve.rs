//! A flags file in its stored form: values, rules and weights checked as the admin API
//! checks them, each problem named by where it is in the file.

use crate::api::admin::ApiError;
use crate::api::admin::segments::checked_rules;
use crate::api::admin::values::stored_value;
use crate::manifest::{FeatureType, Manifest, VariantSpec};
use crate::rules::RuleJson;
use crate::store::command::{
    EnvironmentPlan, FeaturePlan, FlagPlan, ManifestChange, NewOption, OverridePlan, RevisionGuard,
    Seed, SegmentPlan, SettingsPatch,
};
use crate::store::records::{StoredFeatureKind, StoredValue};

/// The error of a value at `place` in the file.
fn at(place: &str, mut error: ApiError) -> ApiError {
    error.message = format!("{place}: {}", error.message);
    error
}

fn value(place: &str, v: &serde_json::Value) -> Result<StoredValue, ApiError> {
    stored_value(v).map_err(|e| at(place, e))
}

fn variants(place: &str, specs: &[VariantSpec]) -> Result<Vec<(StoredValue, f64)>, ApiError> {
    specs
        .iter()
        .enumerate()
        .map(|(n, v)| Ok((value(&format!("{place}[{n}].option"), &v.option)?, v.weight)))
        .collect()
}

/// Refuses a name given twice (regardless of case): the second would silently win.
fn once<'a>(kind: &str, names: impl Iterator<Item = &'a str>) -> Result<(), ApiError> {
    let mut seen = std::collections::BTreeSet::new();
    for name in names {
        if !seen.insert(name.to_lowercase()) {
            return Err(ApiError::bad_request(format!(
                "{kind} {name:?} is in the file twice"
            )));
        }
    }
    Ok(())
}

/// A hash seed as the file gives it: not empty.
fn seed(place: &str, text: Option<&str>) -> Result<Option<Seed>, ApiError> {
    match text {
        Some(t) if t.trim().is_empty() => Err(ApiError::bad_request(format!(
            "{place}.seed: a seed cannot be empty"
        ))),
        other => Ok(other.map(Seed::parse)),
    }
}

pub fn change(manifest: &Manifest, guards: Vec<RevisionGuard>) -> Result<ManifestChange, ApiError> {
    once("segment", manifest.segments.iter().map(|s| s.name.as_str()))?;
    once("feature", manifest.features.iter().map(|f| f.name.as_str()))?;
    once(
        "environment",
        manifest.environments.iter().map(|e| e.name.as_str()),
    )?;
    for e in &manifest.environments {
        once("flag", e.flags.keys().map(String::as_str))?;
    }
    let mut segments = Vec::with_capacity(manifest.segments.len());
    for (n, s) in manifest.segments.iter().enumerate() {
        let place = format!("segments[{n}] ({:?})", s.name);
        if s.id == Some(0) {
            return Err(ApiError::bad_request(format!(
                "{place}.id: segment ids start at 1"
            )));
        }
        let rules: Vec<RuleJson> =
            serde_json::from_value(serde_json::Value::Array(s.rules.clone()))
                .map_err(|e| ApiError::bad_request(format!("{place}.rules: {e}")))?;
        segments.push(SegmentPlan {
            id: s.id,
            name: s.name.clone(),
            description: s.description.clone(),
            rules: checked_rules(&s.name, &rules).map_err(|e| at(&place, e))?,
        });
    }
    let mut features = Vec::with_capacity(manifest.features.len());
    for (n, f) in manifest.features.iter().enumerate() {
        let place = format!("features[{n}] ({:?})", f.name);
        let mut options = Vec::with_capacity(f.options.len());
        for (m, o) in f.options.iter().enumerate() {
            options.push(NewOption {
                value: value(&format!("{place}.options[{m}].value"), &o.value)?,
                key: o.key.clone(),
                default_weight: o.default_weight,
            });
        }
        features.push(FeaturePlan {
            name: f.name.clone(),
            kind: match (f.kind, options.is_empty()) {
                (FeatureType::Standard, true) => StoredFeatureKind::Standard,
                _ => StoredFeatureKind::Multivariate,
            },
            description: f.description.clone(),
            initial_value: value(&format!("{place}.initial_value"), &f.initial_value)?,
            default_enabled: f.default_enabled,
            server_key_only: f.server_key_only,
            tags: f.tags.clone(),
            archived: f.archived,
            options,
        });
    }
    let mut environments = Vec::with_capacity(manifest.environments.len());
    for (n, e) in manifest.environments.iter().enumerate() {
        let place = format!("environments[{n}] ({:?})", e.name);
        let mut flags = Vec::with_capacity(e.flags.len());
        for (feature, flag) in &e.flags {
            let place = format!("{place}.flags.{feature}");
            let overrides = match &flag.segment_overrides {
                None => None,
                Some(list) => Some(
                    list.iter()
                        .enumerate()
                        .map(|(m, o)| {
                            let place = format!("{place}.segment_overrides[{m}]");
                            Ok(OverridePlan {
                                segment: o.segment.clone(),
                                enabled: o.enabled,
                                value: value(&format!("{place}.value"), &o.value)?,
                                seed: seed(&place, o.seed.as_deref())?,
                                variants: variants(&format!("{place}.variants"), &o.variants)?,
                            })
                        })
                        .collect::<Result<Vec<_>, ApiError>>()?,
                ),
            };
            flags.push(FlagPlan {
                feature: feature.clone(),
                enabled: flag.enabled,
                value: value(&format!("{place}.value"), &flag.value)?,
                seed: seed(&place, flag.seed.as_deref())?,
                variants: flag
                    .variants
                    .as_deref()
                    .map(|v| variants(&format!("{place}.variants"), v))
                    .transpose()?,
                segment_overrides: overrides,
            });
        }
        environments.push(EnvironmentPlan {
            name: e.name.clone(),
            new_client_key: match &e.client_key {
                Some(key) => key.clone(),
                None => crate::api::admin::environments::new_client_key()?,
            },
            settings: SettingsPatch {
                hide_disabled_flags: e.settings.hide_disabled_flags,
                hide_sensitive_data: e.settings.hide_sensitive_data,
                allow_client_traits: e.settings.allow_client_traits,
                use_identity_composite_key_for_hashing: e
                    .settings
                    .use_identity_composite_key_for_hashing,
                use_identity_overrides_in_local_eval: e
                    .settings
                    .use_identity_overrides_in_local_eval,
            },
            flags,
        });
    }
    Ok(ManifestChange {
        guards,
        project_name: manifest.project.name.clone(),
        hide_disabled_flags: manifest.project.hide_disabled_flags,
        segments,
        features,
        environments,
    })
}
