//! JSON views of stored records for admin responses.

use serde_json::{Value, json};

use crate::cache::document::iso_timestamp;
use crate::store::records::{
    EnvironmentRecord, FeatureRecord, FeatureStateRecord, ProjectRecord, SegmentRecord,
    ServerKeyRecord, StateTarget, StoredFeatureKind,
};

use super::values::json_value;

pub fn project(p: &ProjectRecord) -> Value {
    json!({
        "id": p.id,
        "name": p.name,
        "hide_disabled_flags": p.hide_disabled_flags,
        "created_at": iso_timestamp(p.created_at),
    })
}

pub fn environment(e: &EnvironmentRecord) -> Value {
    json!({
        "id": e.id,
        "project_id": e.project_id,
        "name": e.name,
        "client_key": e.client_key,
        "revision": e.revision,
        "updated_at": iso_timestamp(e.updated_at),
        "created_at": iso_timestamp(e.created_at),
        "settings": {
            "hide_disabled_flags": e.settings.hide_disabled_flags,
            "hide_sensitive_data": e.settings.hide_sensitive_data,
            "allow_client_traits": e.settings.allow_client_traits,
            "use_identity_composite_key_for_hashing": e.settings.use_identity_composite_key_for_hashing,
            "use_identity_overrides_in_local_eval": e.settings.use_identity_overrides_in_local_eval,
        },
    })
}

pub fn feature(catalog: &crate::store::Catalog, f: &FeatureRecord) -> Value {
    let labels = catalog.feature_labels.get(&f.id);
    json!({
        "id": f.id,
        "project_id": f.project_id,
        "name": f.name,
        "type": match f.kind { StoredFeatureKind::Standard => "STANDARD", StoredFeatureKind::Multivariate => "MULTIVARIATE" },
        "description": f.description,
        "initial_value": json_value(&f.initial_value),
        "default_enabled": f.default_enabled,
        "server_key_only": f.server_key_only,
        "options": f.options.iter().map(|o| json!({
            "id": o.id, "value": json_value(&o.value), "key": o.key, "default_weight": o.default_weight,
        })).collect::<Vec<_>>(),
        "created_at": iso_timestamp(f.created_at),
        "tags": labels.map_or(&[][..], |l| &l.tags),
        "archived": labels.is_some_and(|l| l.archived_at.is_some()),
        "archived_at": labels.and_then(|l| l.archived_at).map(iso_timestamp),
    })
}

pub fn state(s: &FeatureStateRecord) -> Value {
    let mut view = json!({
        "id": s.id,
        "environment_id": s.environment_id,
        "feature_id": s.feature_id,
        "enabled": s.enabled,
        "value": json_value(&s.value),
        "variants": s.variants.iter().map(|v| json!({"option_id": v.option_id, "weight": v.weight})).collect::<Vec<_>>(),
        "hash_seed": s.hash_seed(),
        "updated_at": iso_timestamp(s.updated_at),
    });
    match &s.target {
        StateTarget::Environment => {}
        StateTarget::Segment {
            segment_id,
            priority,
        } => {
            view["segment_id"] = json!(segment_id);
            view["priority"] = json!(priority);
        }
        StateTarget::Identity { identifier } => view["identifier"] = json!(identifier),
    }
    view
}

pub fn segment(s: &SegmentRecord) -> Value {
    json!({
        "id": s.id,
        "project_id": s.project_id,
        "name": s.name,
        "description": s.description,
        "rules": s.rules.iter().map(crate::rules::to_json).collect::<Vec<_>>(),
        "created_at": iso_timestamp(s.created_at),
    })
}

pub fn server_key(k: &ServerKeyRecord) -> Value {
    json!({
        "id": k.id,
        "environment_id": k.environment_id,
        "name": k.name,
        "prefix": k.prefix,
        "active": k.active,
        "expires_at": k.expires_at.map(iso_timestamp),
        "created_at": iso_timestamp(k.created_at),
    })
}
