//! The OpenAPI 3.1 document of Burgee's HTTP API, served at `/openapi.json`.
//!
//! Every route the server mounts is described here; a test reads the route declarations in
//! `src/api` and checks both directions (no route undocumented, no documented path unserved).

use axum::Json;
use serde_json::{Value, json};

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    /// Request body schema, if any.
    body: Option<Value>,
    /// Success status and a description of the answer.
    ok: (u16, &'static str),
}

fn op(
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
) -> Operation {
    let ok = match method {
        "post" => (201, "created"),
        "delete" => (204, "deleted"),
        _ => (200, "OK"),
    };
    Operation {
        method,
        path,
        tag,
        summary,
        body: None,
        ok,
    }
}

impl Operation {
    fn body(mut self, schema: Value) -> Self {
        self.body = Some(schema);
        self
    }

    fn ok(mut self, status: u16, description: &'static str) -> Self {
        self.ok = (status, description);
        self
    }
}

#[allow(clippy::needless_pass_by_value)] // callers build the properties inline
fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

fn value_schema() -> Value {
    json!({"type": ["string", "integer", "boolean", "null"], "description": "Integers are 32-bit; other numbers are stored as strings."})
}

fn state_body() -> Value {
    object(
        json!({
            "enabled": {"type": "boolean"},
            "value": value_schema(),
            "variants": {"type": "array", "items": object(json!({"option_id": {"type": "integer"}, "weight": {"type": "number", "minimum": 0, "maximum": 100}}), &["option_id", "weight"])},
            "priority": {"type": "integer", "minimum": 0, "description": "Segment overrides only: 0 is strongest."},
        }),
        &[],
    )
}

fn settings() -> Value {
    object(
        json!({
            "hide_disabled_flags": {"type": ["boolean", "null"], "description": "null inherits the project's setting"},
            "hide_sensitive_data": {"type": "boolean"},
            "allow_client_traits": {"type": "boolean"},
            "use_identity_composite_key_for_hashing": {"type": "boolean"},
            "use_identity_overrides_in_local_eval": {"type": "boolean"},
        }),
        &[],
    )
}

fn rules() -> Value {
    json!({"type": "array", "items": {"$ref": "#/components/schemas/Rule"}})
}

fn operations() -> Vec<Operation> {
    let name = || json!({"type": "string", "minLength": 1, "maxLength": 2000});
    vec![
        op("get", "/api/v1/flags/", "SDK", "Environment flags (defaults only); `?feature=` for one").ok(200, "flags"),
        op("post", "/api/v1/identities/", "SDK", "Identify with traits and get the identity's flags").ok(200, "identity, traits and flags").body(json!({"type": "object"})),
        op("get", "/api/v1/identities/", "SDK", "Flags of an identity by `?identifier=`"),
        op("get", "/api/v1/environment-document/", "SDK", "The environment document for local evaluation (server-side keys)"),
        op("post", "/api/v1/analytics/flags/", "SDK", "Feature evaluation counts").ok(200, "recorded").body(json!({"type": "object", "additionalProperties": {"type": "integer"}})),
        op("get", "/health/liveness", "Operations", "The process is up"),
        op("get", "/health/readiness", "Operations", "Ready to serve (initialised, caught up)"),
        op("get", "/metrics", "Operations", "Prometheus metrics"),
        op("get", "/openapi.json", "Operations", "This document"),
        op("get", "/admin/v1/organisation", "Organisation", "The organisation's settings"),
        op("patch", "/admin/v1/organisation", "Organisation", "Change the organisation's settings").body(object(json!({"name": name(), "persist_trait_data": {"type": "boolean"}, "stop_serving_flags": {"type": "boolean"}}), &[])),
        op("get", "/admin/v1/projects", "Projects", "List projects (`?limit=&cursor=`)"),
        op("post", "/admin/v1/projects", "Projects", "Create a project").body(object(json!({"name": name(), "hide_disabled_flags": {"type": "boolean"}}), &["name"])),
        op("get", "/admin/v1/projects/{id}", "Projects", "A project"),
        op("patch", "/admin/v1/projects/{id}", "Projects", "Rename or change a project").body(object(json!({"name": name(), "hide_disabled_flags": {"type": "boolean"}}), &[])),
        op("delete", "/admin/v1/projects/{id}", "Projects", "Delete a project with everything in it"),
        op("get", "/admin/v1/projects/{id}/environments", "Environments", "List a project's environments"),
        op("post", "/admin/v1/projects/{id}/environments", "Environments", "Create an environment (a new client key)").body(object(json!({"name": name(), "settings": settings()}), &["name"])),
        op("get", "/admin/v1/environments", "Environments", "All environments, or `?client_key=`"),
        op("get", "/admin/v1/environments/{id}", "Environments", "An environment (ETag: its revision)"),
        op("patch", "/admin/v1/environments/{id}", "Environments", "Rename or change settings (`If-Match: \"<revision>\"`)").body(object(json!({"name": name(), "settings": settings()}), &[])),
        op("delete", "/admin/v1/environments/{id}", "Environments", "Delete an environment with its identities"),
        op("get", "/admin/v1/environments/{id}/document", "Environments", "The environment document, as SDKs get it"),
        op("get", "/admin/v1/environments/{id}/feature-states", "Feature states", "Every feature state of the environment"),
        op("patch", "/admin/v1/environments/{id}/features/{feature_id}/state", "Feature states", "Change the environment default of a feature").body(state_body()),
        op("get", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides", "Segment overrides", "A feature's segment overrides, strongest first"),
        op("put", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides", "Segment overrides", "Reorder the overrides").body(object(json!({"segment_ids": {"type": "array", "items": {"type": "integer"}}}), &["segment_ids"])),
        op("put", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}", "Segment overrides", "Create or change a segment override").body(state_body()),
        op("delete", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}", "Segment overrides", "Remove a segment override"),
        op("get", "/admin/v1/projects/{id}/features", "Features", "List a project's features"),
        op("post", "/admin/v1/projects/{id}/features", "Features", "Create a feature (standard or multivariate)").body(object(json!({
            "name": name(), "type": {"enum": ["STANDARD", "MULTIVARIATE"]}, "description": {"type": ["string", "null"]},
            "initial_value": value_schema(), "default_enabled": {"type": "boolean"}, "server_key_only": {"type": "boolean"},
            "options": {"type": "array", "items": object(json!({"value": value_schema(), "key": {"type": ["string", "null"]}, "default_weight": {"type": "number"}}), &["value"])},
        }), &["name"])),
        op("get", "/admin/v1/features/{id}", "Features", "A feature"),
        op("patch", "/admin/v1/features/{id}", "Features", "Change a feature").body(object(json!({"description": {"type": ["string", "null"]}, "server_key_only": {"type": "boolean"}}), &[])),
        op("delete", "/admin/v1/features/{id}", "Features", "Delete a feature and its states"),
        op("get", "/admin/v1/projects/{id}/segments", "Segments", "List a project's segments"),
        op("post", "/admin/v1/projects/{id}/segments", "Segments", "Create a segment (rules validated strictly)").body(object(json!({"name": name(), "description": {"type": ["string", "null"]}, "rules": rules()}), &["name", "rules"])),
        op("get", "/admin/v1/segments/{id}", "Segments", "A segment"),
        op("patch", "/admin/v1/segments/{id}", "Segments", "Change a segment").body(object(json!({"name": name(), "description": {"type": ["string", "null"]}, "rules": rules()}), &[])),
        op("delete", "/admin/v1/segments/{id}", "Segments", "Delete a segment and its overrides"),
        op("get", "/admin/v1/environments/{id}/identities", "Identities", "List identities (`?limit=&cursor=`)"),
        op("delete", "/admin/v1/environments/{id}/identities", "Identities", "Delete every identity of the environment").ok(200, "how many were deleted"),
        op("get", "/admin/v1/environments/{id}/identities/{identifier}", "Identities", "An identity: traits and overrides"),
        op("delete", "/admin/v1/environments/{id}/identities/{identifier}", "Identities", "Delete an identity (GDPR)"),
        op("put", "/admin/v1/environments/{id}/identities/{identifier}/traits", "Identities", "Set (or, with null, delete) traits").ok(200, "the identity").body(object(json!({"traits": {"type": "object"}}), &["traits"])),
        op("put", "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}", "Identities", "Create or change an identity override").ok(200, "the identity").body(state_body()),
        op("delete", "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}", "Identities", "Remove an identity override"),
        op("get", "/admin/v1/environments/{id}/server-keys", "Keys", "List server-side keys"),
        op("post", "/admin/v1/environments/{id}/server-keys", "Keys", "Create a server-side key (shown once)").body(object(json!({"name": name()}), &[])),
        op("delete", "/admin/v1/server-keys/{id}", "Keys", "Revoke a server-side key"),
        op("post", "/admin/v1/import/flagsmith", "Import", "Import a Flagsmith environment document (`?project=&replace=`)").body(json!({"type": "object", "description": "An environment document as /api/v1/environment-document/ serves it"})),
    ]
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for operation in operations() {
        let mut entry = json!({
            "tags": [operation.tag],
            "summary": operation.summary,
            "responses": {
                operation.ok.0.to_string(): {"description": operation.ok.1},
                "default": {"description": "an error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
            },
        });
        let parameters: Vec<Value> = operation
            .path
            .split('/')
            .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": if name == "identifier" { "string" } else { "integer" }}}))
            .collect();
        if !parameters.is_empty() {
            entry["parameters"] = json!(parameters);
        }
        if let Some(body) = operation.body {
            entry["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        if operation.path.starts_with("/admin/") {
            entry["security"] = json!([{"token": []}]);
        } else if operation.path.starts_with("/api/") {
            entry["security"] = json!([{"environmentKey": []}]);
        }
        let item = paths
            .entry(operation.path.to_owned())
            .or_insert_with(|| json!({}));
        item[operation.method] = entry;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Burgee", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Feature flags and remote config. `/api/v1/` is wire-compatible with Flagsmith's SDK API; `/admin/v1/` is Burgee's admin API."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "environmentKey": {"type": "apiKey", "in": "header", "name": "X-Environment-Key"},
            },
            "schemas": {
                "Error": object(json!({"error": object(json!({"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}), &["code", "message", "details"])}), &["error"]),
                "Rule": {"type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["ALL", "ANY", "NONE"]},
                    "conditions": {"type": "array", "items": object(json!({
                        "property": {"type": "string"},
                        "operator": {"enum": ["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_INCLUSIVE", "LESS_THAN", "LESS_THAN_INCLUSIVE", "CONTAINS", "NOT_CONTAINS", "REGEX", "PERCENTAGE_SPLIT", "MODULO", "IS_SET", "IS_NOT_SET", "IN"]},
                        "value": {"type": ["string", "null"]},
                    }), &["operator"])},
                    "rules": {"type": "array", "items": {"$ref": "#/components/schemas/Rule"}},
                }},
            },
        },
    })
}

pub async fn serve() -> Json<Value> {
    Json(document())
}
