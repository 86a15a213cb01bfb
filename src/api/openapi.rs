//! The OpenAPI 3.1 document of Burgee's HTTP API, served at `/openapi.json`.
//!
//! Every route the server mounts is described here; a test reads the route declarations in
//! `src/api` and checks both directions (no route undocumented, no documented path unserved),
//! and schemathesis checks in CI that answers match what is declared. Schemas say what the
//! server accepts: ranges, nullability and lengths as it checks them. Rules that relate
//! several fields (weights adding up to 100, variants naming the feature's options, segment
//! rule semantics) are described in words and answered with 400 when broken.

use axum::Json;
use serde_json::{Value, json};

/// Which API an operation belongs to: it decides the error body's shape and the credentials.
#[derive(Clone, Copy, PartialEq)]
enum Api {
    Sdk,
    Admin,
    Operations,
}

/// One documented operation.
struct Operation {
    method: &'static str,
    path: &'static str,
    tag: &'static str,
    summary: &'static str,
    api: Api,
    /// Request body schema, if any.
    body: Option<Value>,
    /// Success status and a description of the answer.
    ok: (u16, &'static str),
    query: Vec<Value>,
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
    let api = if path.starts_with("/admin/") {
        Api::Admin
    } else if path.starts_with("/api/") || path.starts_with("/ofrep/") {
        Api::Sdk
    } else {
        Api::Operations
    };
    Operation {
        method,
        path,
        tag,
        summary,
        api,
        body: None,
        ok,
        query: Vec::new(),
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

    #[allow(clippy::needless_pass_by_value)] // callers build the schema inline
    fn query(mut self, name: &str, schema: Value) -> Self {
        self.query
            .push(json!({"name": name, "in": "query", "required": false, "schema": schema}));
        self
    }

    /// `?limit=&cursor=`.
    fn paged(self) -> Self {
        self.query("limit", json!({"type": "integer", "minimum": 1, "maximum": 500}))
            .query("cursor", json!({"type": "string", "pattern": "^c1\\.[0-9a-f.]*$", "description": "next_cursor of the previous page, as given; any other is refused"}))
    }
}

#[allow(clippy::needless_pass_by_value)] // callers build the properties inline
fn object(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// Characters a name may not hold: controls and text-direction overrides.
const FORBIDDEN: &str = "\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069";
/// Characters that show nothing.
const INVISIBLE: &str = "\\s\\u00ad\\u034f\\u200b-\\u200f\\u2060-\\u2064\\ufeff";

fn name() -> Value {
    json!({
        "type": "string", "minLength": 1, "maxLength": 2000,
        "pattern": format!("^[^{FORBIDDEN}]*[^{FORBIDDEN}{INVISIBLE}][^{FORBIDDEN}]*$"),
        "description": "At least one visible character; no control or text-direction characters.",
    })
}

fn description() -> Value {
    json!({"type": ["string", "null"], "maxLength": 2000, "pattern": "^[^\\u0000]*$"})
}

fn value_schema() -> Value {
    json!({
        "anyOf": [
            {"type": ["string", "boolean", "null"], "maxLength": 20000},
            {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX},
            {"type": "number", "not": {"type": "integer"}},
        ],
        "description": "Integers within 32 bits keep their type and other numbers are kept as text, as Flagsmith does; integers beyond 64 bits are refused. Text is at most 20 000 characters.",
    })
}

fn id() -> Value {
    json!({"type": "integer", "minimum": 0, "maximum": u32::MAX})
}

/// Features by name (names are matched regardless of case).
fn names() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// A feature's tags; in a promotion or bulk edit, features carrying all of them are chosen
/// too.
fn tags() -> Value {
    json!({"type": "array", "maxItems": 20, "items": {"type": "string", "minLength": 1, "maxLength": 64, "pattern": "^[^,\\u0000-\\u001f]+$"}})
}

fn secret() -> Value {
    json!({"type": "string", "minLength": 1, "maxLength": 1024})
}

fn email() -> Value {
    json!({"type": "string", "minLength": 3, "maxLength": 254, "pattern": "^[^@\\s]+@[^@\\s]+$"})
}

fn password() -> Value {
    json!({"type": "string", "minLength": 12, "maxLength": 1024, "description": "At least 12 characters; not the e-mail address."})
}

fn duration() -> Value {
    json!({"type": "string", "pattern": "^[0-9]{1,12}[smhd]?$", "description": "e.g. 90s, 15m, 12h, 30d"})
}

fn permission_keys() -> Value {
    json!({"type": "array", "items": {"enum": crate::access::Permission::ALL.iter().map(|p| p.key()).collect::<Vec<_>>()}})
}

fn variants() -> Value {
    json!({
        "type": "array",
        "items": object(json!({"option_id": id(), "weight": {"type": "number", "minimum": 0, "maximum": 100}}), &["option_id", "weight"]),
        "description": "Weights of the feature's own options, adding up to at most 100.",
    })
}

fn state_properties() -> serde_json::Map<String, Value> {
    let mut properties = serde_json::Map::new();
    properties.insert("enabled".into(), json!({"type": "boolean"}));
    properties.insert("value".into(), value_schema());
    properties.insert("variants".into(), variants());
    properties
}

fn state_body() -> Value {
    object(Value::Object(state_properties()), &[])
}

fn override_body() -> Value {
    let mut properties = state_properties();
    properties.insert(
        "priority".into(),
        json!({"type": "integer", "minimum": 0, "maximum": u32::MAX, "description": "0 is strongest; absent keeps it (a new override goes last)."}),
    );
    object(Value::Object(properties), &[])
}

fn identity_override_body() -> Value {
    let mut properties = state_properties();
    properties.remove("variants");
    object(Value::Object(properties), &[])
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
    json!({"type": "array", "items": {"$ref": "#/components/schemas/Rule"},
           "description": "Checked strictly: every operator but PERCENTAGE_SPLIT needs a property, every one but IS_SET and IS_NOT_SET a value; regexes, versions and MODULO values must be valid."})
}

fn traits() -> Value {
    json!({"type": "object", "additionalProperties": {
        "anyOf": [
            {"type": ["string", "boolean", "null"], "maxLength": 2000},
            {"type": "integer", "minimum": i64::MIN, "maximum": i64::MAX},
            {"type": "number", "not": {"type": "integer"}},
        ]},
        "propertyNames": {"minLength": 1, "maxLength": 200},
        "description": "null deletes a trait"})
}

fn operations() -> Vec<Operation> {
    vec![
        op("get", "/api/v1/flags/", "SDK", "Environment flags (defaults only); `?feature=` for one. Strong `ETag`; `If-None-Match` or `If-Modified-Since` may answer 304; gzip, br or zstd by `Accept-Encoding`").ok(200, "flags").query("feature", json!({"type": "string"})),
        op("post", "/api/v1/identities/", "SDK", "Identify with traits and get the identity's flags").ok(200, "identity, traits and flags").body(json!({"type": "object"})),
        op("get", "/api/v1/identities/", "SDK", "Flags of an identity by `?identifier=`").query("identifier", json!({"type": "string"})).query("transient", json!({"type": "string"})),
        op("get", "/api/v1/environment-document/", "SDK", "The environment document for local evaluation (server-side keys). Strong `ETag`; `If-None-Match` or `If-Modified-Since` may answer 304; gzip, br or zstd by `Accept-Encoding`"),
        op("get", "/api/v1/flags/stream", "SDK", "Real-time stream (text/event-stream) of the flags as `/api/v1/flags/` shows them to the key: `flags` events (complete on subscribe, then what changed) with the environment's revision as `id`, resumable with `Last-Event-ID`; `refetch` when that revision is forgotten; `document` events for a server-side key with `?document=true`; `: ping` keep-alives").ok(200, "an event stream").query("environment_key", json!({"type": "string", "description": "a client key, for browsers' EventSource (which cannot send headers)"})).query("document", json!({"type": "string", "enum": ["true", "false"]})),
        op("get", "/sse/environments/{key}/stream", "SDK", "Flagsmith's real-time stream for the SDKs' real-time modes: `environment_updated` events with `{\"updated_at\": <Unix seconds>}` on subscribe and on every change; `{key}` is the environment's client key").ok(200, "an event stream"),
        op("post", "/ofrep/v1/evaluate/flags/{key}", "OFREP", "OpenFeature remote evaluation of one flag: `{\"context\": {\"targetingKey\": …, attributes…}}`, the key as `Authorization: Bearer`, `X-API-Key` or `X-Environment-Key`; nothing is written (docs/ofrep.md)").ok(200, "a resolution: key, value, reason, variant, metadata").body(json!({"type": "object", "properties": {"context": {"type": ["object", "null"], "description": "absent or null: environment defaults"}}})),
        op("post", "/ofrep/v1/evaluate/flags", "OFREP", "OpenFeature remote evaluation of every flag the key sees, with a strong `ETag` (`If-None-Match` may answer 304)").ok(200, "{flags: [resolutions]}").body(json!({"type": "object", "properties": {"context": {"type": ["object", "null"], "description": "absent or null: environment defaults"}}})),
        op("post", "/api/v1/analytics/flags/", "SDK", "Feature evaluation counts").ok(200, "recorded").body(json!({"type": "object", "description": "{feature name: count}; entries that are not counts are ignored, as Flagsmith does"})),
        op("post", "/api/v2/analytics/flags/", "SDK", "Feature evaluation counts, Flagsmith's v2 shape").ok(204, "recorded").body(json!({"type": "object", "description": "other fields are ignored, as Flagsmith does", "required": ["evaluations"], "properties": {"evaluations": {"type": "array", "items": {"type": "object", "properties": {
            "feature_name": {"type": "string"}, "count": {"type": "integer", "minimum": 0}, "identity_identifier": {"type": ["string", "null"]}, "enabled_when_evaluated": {"type": "boolean"},
        }, "required": ["feature_name", "count"]}}}})),
        op("get", "/health/liveness", "Operations", "The process is up and its writer runs"),
        op("get", "/health/readiness", "Operations", "Ready to serve: initialised, and storage takes writes"),
        op("get", "/health/cluster", "Operations", "This node's view of its Raft cluster: role, term, leader, members, indexes, follower lag"),
        op("get", "/metrics", "Operations", "Prometheus metrics"),
        op("get", "/openapi.json", "Operations", "This document"),
        op("get", "/admin/v1/organisation", "Organisation", "The organisation's settings"),
        op("patch", "/admin/v1/organisation", "Organisation", "Change the organisation's settings").body(object(json!({"name": name(), "persist_trait_data": {"type": "boolean"}, "stop_serving_flags": {"type": "boolean"}}), &[])),
        op("get", "/admin/v1/projects", "Projects", "List projects").paged(),
        op("post", "/admin/v1/projects", "Projects", "Create a project").body(object(json!({"name": name(), "hide_disabled_flags": {"type": "boolean"}}), &["name"])),
        op("get", "/admin/v1/projects/{id}", "Projects", "A project"),
        op("patch", "/admin/v1/projects/{id}", "Projects", "Rename or change a project").body(object(json!({"name": name(), "hide_disabled_flags": {"type": "boolean"}}), &[])),
        op("delete", "/admin/v1/projects/{id}", "Projects", "Delete a project with everything in it (identities go in the background)"),
        op("get", "/admin/v1/projects/{id}/environments", "Environments", "List a project's environments").paged(),
        op("post", "/admin/v1/projects/{id}/environments", "Environments", "Create an environment (a new client key); with `clone_from`, as a copy of another environment of the project: its settings (`settings` change the copy's), every feature's state and segment overrides with their values, weights and hash seeds, in one audited change (needs VIEW_ENVIRONMENT on the source); `identity_overrides: true` copies the source's identity overrides too, in bounded batches after it (needs VIEW_IDENTITIES on the source and MANAGE_IDENTITIES on the project; the answer's `identity_overrides_copied` counts them)").body(object(json!({"name": name(), "settings": settings(), "clone_from": id(), "identity_overrides": {"type": "boolean"}}), &["name"])),
        op("get", "/admin/v1/environments", "Environments", "All environments, or `?client_key=`").paged().query("client_key", json!({"type": "string"})),
        op("get", "/admin/v1/environments/{id}", "Environments", "An environment (ETag: its revision)"),
        op("patch", "/admin/v1/environments/{id}", "Environments", "Rename or change settings (`If-Match: \"<revision>\"` or `*`; stale: 412)").body(object(json!({"name": name(), "settings": settings()}), &[])),
        op("delete", "/admin/v1/environments/{id}", "Environments", "Delete an environment (its keys stop at once; identities go in the background)"),
        op("get", "/admin/v1/environments/{id}/document", "Environments", "The environment document, as SDKs get it"),
        op("get", "/admin/v1/environments/{id}/feature-states", "Feature states", "Every feature state of the environment").paged(),
        op("get", "/admin/v1/environments/{id}/compare/{other_id}", "Environments", "How the flags of environment `other_id` differ from this one's, per feature (matched by name): enabled, value, multivariate weights and segment overrides in order; `same` when nothing does. Needs VIEW_ENVIRONMENT on both"),
        op("post", "/admin/v1/environments/{id}/promote", "Environments", "Copy features' configuration (enabled, value, weights, segment overrides in order) from this environment to others of its project, atomically: all targets or none. `dry_run` shows the exact diff and an ETag naming every environment's revision; sent back as `If-Match`, a change meanwhile is refused with 412. Targets keep their hash seeds. Needs VIEW_ENVIRONMENT on each target for a dry run, UPDATE_FEATURE_STATE (and MANAGE_SEGMENT_OVERRIDES for overrides) to apply").body(object(json!({"to": {"type": "array", "items": id(), "minItems": 1}, "features": names(), "tags": tags(), "dry_run": {"type": "boolean"}}), &["to"])).ok(200, "the plan, and whether it was applied"),
        op("get", "/admin/v1/projects/{id}/manifest", "Flags as code", "The project as a flags file (docs/flags-as-code.md, schema docs/flags.schema.json): features, segments with their ids, every environment's flags and overrides with their hash seeds; no keys or tokens. Environments the caller may not see (VIEW_ENVIRONMENT) are left out"),
        op("post", "/admin/v1/manifest", "Flags as code", "Make a project match a flags file in one atomic, audited change. `dry_run` answers the plan: every record change with its diff, and what the project has that the file does not mention (`unmanaged`, left alone), and an ETag of the environments' revisions; sent back as `If-Match`, a change meanwhile is refused with 412. Needs what the changes need: CREATE_PROJECT for a new project; CREATE_FEATURE, EDIT_FEATURE, MANAGE_SEGMENTS, CREATE_ENVIRONMENT, MANAGE_PROJECT on the project and MANAGE_ENVIRONMENT, UPDATE_FEATURE_STATE, MANAGE_SEGMENT_OVERRIDES on environments, as they apply").body(object(json!({"manifest": {"type": "object", "description": "A flags file (docs/flags.schema.json)"}, "dry_run": {"type": "boolean"}}), &["manifest"])).ok(200, "the plan, and whether it was applied"),
        op("post", "/admin/v1/environments/{id}/explain", "Environments", "Why an identity gets each flag here: segments matched (each condition with the trait value it was checked against), overrides and split buckets, evaluated on the served snapshot; writes nothing. `traits` go over the identity's stored ones unless `stored_traits` is false (stored traits need VIEW_IDENTITIES)").body(object(json!({"identifier": {"type": "string"}, "traits": {"type": "object"}, "stored_traits": {"type": "boolean"}}), &[])).ok(200, "the explanation"),
        op("get", "/admin/v1/features/{id}/history", "Features", "Every audited change of the feature, oldest first: its record, tags and archive mark, and its states in every environment (`environment_id`: one), each entry with only the changes that concern the feature").paged().query("environment_id", id()),
        op("post", "/admin/v1/environments/{id}/features/{feature_id}/rollback", "Feature states", "Restore the feature's configuration in this environment (enabled, value, weights, segment overrides in order) as it was right after audit entry `to`, as a new audited change; `dry_run` shows the diff, `If-Match` guards it like a promotion. Needs MANAGE_SEGMENT_OVERRIDES too when overrides change; 409 when the log was pruned before `to` or a segment is gone").body(object(json!({"to": {"type": "integer", "minimum": 0}, "dry_run": {"type": "boolean"}}), &["to"])).ok(200, "the plan, and whether it was applied"),
        op("post", "/admin/v1/projects/{id}/bulk-edit", "Feature states", "Set enabled and/or the value of many features in many environments of the project in one atomic change, with the same dry run, ETag and `If-Match` guard as a promotion. Needs VIEW_ENVIRONMENT on each environment for a dry run, UPDATE_FEATURE_STATE to apply").body(object(json!({"environments": {"type": "array", "items": id(), "minItems": 1}, "features": names(), "tags": tags(), "enabled": {"type": "boolean"}, "value": value_schema(), "dry_run": {"type": "boolean"}}), &["environments"])).ok(200, "the plan, and whether it was applied"),
        op("patch", "/admin/v1/environments/{id}/features/{feature_id}/state", "Feature states", "Change the environment default of a feature").body(state_body()),
        op("get", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides", "Segment overrides", "A feature's segment overrides, strongest first"),
        op("put", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides", "Segment overrides", "Reorder the overrides (each overriding segment once)").body(object(json!({"segment_ids": {"type": "array", "items": id()}}), &["segment_ids"])),
        op("put", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}", "Segment overrides", "Create or change a segment override").body(override_body()),
        op("delete", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}", "Segment overrides", "Remove a segment override"),
        op("get", "/admin/v1/projects/{id}/features", "Features", "List a project's features: those not archived, or `archived=true` (only archived) or `any`; `tag=a,b` keeps those carrying every tag").paged().query("tag", json!({"type": "string"})).query("archived", json!({"enum": ["false", "true", "any"]})),
        op("get", "/admin/v1/environments/{id}/feature-usage", "Analytics", "Every feature's evaluations in the last `days` (default 30), totals and last evaluation (docs/analytics.md)").query("days", json!({"type": "integer", "minimum": 1, "maximum": 366})),
        op("get", "/admin/v1/environments/{id}/features/{feature_id}/evaluations", "Analytics", "One feature's evaluations per hour or day over the last `days` (default 7), zeros included").query("days", json!({"type": "integer", "minimum": 1, "maximum": 366})).query("bucket", json!({"enum": ["hour", "day"]})),
        op("get", "/admin/v1/projects/{id}/stale-features", "Analytics", "Features older than `days` (default 30) that no environment evaluated within them; `source=reported` counts only what applications reported").query("days", json!({"type": "integer", "minimum": 1, "maximum": 366})).query("source", json!({"enum": ["any", "reported"]})),
        op("post", "/admin/v1/projects/{id}/features", "Features", "Create a feature (standard or multivariate; names are unique regardless of case)").body(object(json!({
            "name": name(), "type": {"enum": ["STANDARD", "MULTIVARIATE"]}, "description": description(),
            "initial_value": value_schema(), "default_enabled": {"type": "boolean"}, "server_key_only": {"type": "boolean"},
            "tags": tags(),
            "options": {"type": "array", "description": "Multivariate features only; default weights add up to at most 100.",
                        "items": object(json!({"value": value_schema(), "key": {"type": ["string", "null"]}, "default_weight": {"type": "number", "minimum": 0, "maximum": 100}}), &["value"])},
        }), &["name"])),
        op("get", "/admin/v1/features/{id}", "Features", "A feature"),
        op("patch", "/admin/v1/features/{id}", "Features", "Change a feature; `tags` replaces its tags, `archived: true` hides it from SDKs and lists (states kept), `false` restores it").body(object(json!({"description": description(), "server_key_only": {"type": "boolean"}, "tags": tags(), "archived": {"type": "boolean"}}), &[])),
        op("delete", "/admin/v1/features/{id}", "Features", "Delete a feature and its states"),
        op("get", "/admin/v1/projects/{id}/segments", "Segments", "List a project's segments in evaluation order").paged(),
        op("post", "/admin/v1/projects/{id}/segments", "Segments", "Create a segment (names are unique regardless of case)").body(object(json!({"name": name(), "description": description(), "rules": rules()}), &["name", "rules"])),
        op("get", "/admin/v1/segments/{id}", "Segments", "A segment"),
        op("patch", "/admin/v1/segments/{id}", "Segments", "Change a segment").body(object(json!({"name": name(), "description": description(), "rules": rules()}), &[])),
        op("delete", "/admin/v1/segments/{id}", "Segments", "Delete a segment and its overrides"),
        op("get", "/admin/v1/environments/{id}/identities", "Identities", "List identities by identifier").paged(),
        op("delete", "/admin/v1/environments/{id}/identities", "Identities", "Delete every identity of the environment").ok(200, "how many were deleted"),
        op("get", "/admin/v1/environments/{id}/identities/{identifier}", "Identities", "An identity: traits and overrides"),
        op("delete", "/admin/v1/environments/{id}/identities/{identifier}", "Identities", "Delete an identity and every trait (GDPR)"),
        op("put", "/admin/v1/environments/{id}/identities/{identifier}/traits", "Identities", "Set (or, with null, delete) traits").ok(200, "the identity").body(object(json!({"traits": traits()}), &["traits"])),
        op("put", "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}", "Identities", "Create or change an identity override").ok(200, "the identity").body(identity_override_body()),
        op("delete", "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}", "Identities", "Remove an identity override"),
        op("get", "/admin/v1/environments/{id}/server-keys", "Keys", "List server-side keys").paged(),
        op("post", "/admin/v1/environments/{id}/server-keys", "Keys", "Create a server-side key (shown once), optionally expiring").body(object(json!({"name": name(), "expires_in": duration()}), &[])),
        op("delete", "/admin/v1/server-keys/{id}", "Keys", "Revoke a server-side key"),
        op("post", "/admin/v1/server-keys/{id}/rotate", "Keys", "A new key (shown once) beside the old one, which works until revoked or `old_expires_in`").body(object(json!({"old_expires_in": duration()}), &[])),
        op("post", "/admin/v1/setup", "Access", "First start: create the first admin user with the setup token (once)").body(object(json!({"setup_token": secret(), "email": email(), "name": name(), "password": password()}), &["setup_token", "email", "name", "password"])),
        op("post", "/admin/v1/auth/login", "Access", "Sign in: a session cookie (browser) or a bearer session (`\"session\": \"token\"`, the CLI)").ok(200, "signed in").body(object(json!({"email": {"type": "string", "maxLength": 254}, "password": {"type": "string", "maxLength": 1024}, "session": {"enum": ["cookie", "token"]}}), &["email", "password"])),
        op("post", "/admin/v1/auth/accept-invite", "Access", "Accept an invitation by choosing a password").ok(200, "the user").body(object(json!({"token": secret(), "password": password()}), &["token", "password"])),
        op("post", "/admin/v1/auth/logout", "Access", "End this session").ok(204, "signed out"),
        op("get", "/admin/v1/auth/whoami", "Access", "Who the credential is, and its permissions"),
        op("post", "/admin/v1/auth/password", "Access", "Change one's own password (ends one's other sessions)").ok(204, "changed").body(object(json!({"current_password": {"type": "string", "maxLength": 1024}, "new_password": password()}), &["current_password", "new_password"])),
        op("get", "/admin/v1/auth/tokens", "Access", "One's personal API tokens").paged(),
        op("post", "/admin/v1/auth/tokens", "Access", "A personal API token with one's own permissions (shown once)").body(object(json!({"name": name(), "expires_in": duration()}), &["name"])),
        op("delete", "/admin/v1/auth/tokens/{id}", "Access", "Revoke one of one's personal tokens"),
        op("get", "/admin/v1/permissions", "Access", "Every permission, with its level"),
        op("get", "/admin/v1/users", "Users", "List users").paged(),
        op("post", "/admin/v1/users", "Users", "Create a user: an initial password they must change, or (without one) an invitation shown once").body(object(json!({"email": email(), "name": name(), "password": password(), "admin": {"type": "boolean"}}), &["email", "name"])),
        op("get", "/admin/v1/users/{id}", "Users", "A user"),
        op("patch", "/admin/v1/users/{id}", "Users", "Rename, deactivate (`active: false` ends their sessions and tokens at once) or reactivate").body(object(json!({"name": name(), "active": {"type": "boolean"}}), &[])),
        op("delete", "/admin/v1/users/{id}", "Users", "Delete a user with their grants, sessions and tokens"),
        op("post", "/admin/v1/users/{id}/reset-password", "Users", "Reset: a new initial password, or (without one) a new invitation; ends their sessions").ok(200, "the user").body(object(json!({"password": password()}), &[])),
        op("get", "/admin/v1/teams", "Users", "List teams").paged(),
        op("post", "/admin/v1/teams", "Users", "Create a team").body(object(json!({"name": name()}), &["name"])),
        op("get", "/admin/v1/teams/{id}", "Users", "A team"),
        op("patch", "/admin/v1/teams/{id}", "Users", "Rename a team").body(object(json!({"name": name()}), &["name"])),
        op("delete", "/admin/v1/teams/{id}", "Users", "Delete a team and its grants"),
        op("put", "/admin/v1/teams/{id}/members/{user_id}", "Users", "Add a member"),
        op("delete", "/admin/v1/teams/{id}/members/{user_id}", "Users", "Remove a member"),
        op("get", "/admin/v1/roles", "Access", "Built-in and custom roles"),
        op("post", "/admin/v1/roles", "Access", "Create a custom role (a named set of permissions)").body(object(json!({"name": name(), "description": description(), "permissions": permission_keys()}), &["name", "permissions"])),
        op("get", "/admin/v1/roles/{id}", "Access", "A role (a built-in by name, a custom one by id)"),
        op("patch", "/admin/v1/roles/{id}", "Access", "Change a custom role").body(object(json!({"name": name(), "description": description(), "permissions": permission_keys()}), &[])),
        op("delete", "/admin/v1/roles/{id}", "Access", "Delete an unused custom role"),
        op("get", "/admin/v1/grants", "Access", "Grants, of one `?user_id=` or `?team_id=`").paged().query("user_id", id()).query("team_id", id()),
        op("post", "/admin/v1/grants", "Access", "Grant a role to a user or team on the organisation, a project or an environment").body(object(json!({"user_id": id(), "team_id": id(), "role": {"type": "string", "minLength": 1, "maxLength": 2000}, "project_id": id(), "environment_id": id()}), &["role"])),
        op("delete", "/admin/v1/grants/{id}", "Access", "Remove a grant"),
        op("get", "/admin/v1/tokens", "Access", "The organisation's API tokens").paged(),
        op("post", "/admin/v1/tokens", "Access", "Create an API token with a role or permissions at a scope, at most one's own (shown once)").body(object(json!({"name": name(), "role": {"type": "string", "minLength": 1, "maxLength": 2000}, "permissions": permission_keys(), "project_id": id(), "environment_id": id(), "expires_in": duration()}), &["name"])),
        op("delete", "/admin/v1/tokens/{id}", "Access", "Revoke an API token"),
        op("post", "/admin/v1/tokens/{id}/rotate", "Access", "A new secret for a token; the old one works for `grace` (default: stops now)").body(object(json!({"grace": duration()}), &[])),
        op("get", "/admin/v1/audit", "Audit", "Audit entries, oldest first, filtered").query("since", json!({"type": "string", "maxLength": 64})).query("until", json!({"type": "string", "maxLength": 64})).query("actor", json!({"type": "string"})).query("project_id", id()).query("environment_id", id()).query("action", json!({"type": "string"})).query("target", json!({"type": "string"})).query("limit", json!({"type": "integer", "minimum": 1, "maximum": 500})).query("cursor", json!({"type": "string", "pattern": "^a1\\.[0-9a-f]+$"})),
        op("get", "/admin/v1/audit/verify", "Audit", "Check the audit chain; names the first bad entry and the chain head"),
        op("get", "/admin/v1/audit/export", "Audit", "Stream entries as JSON Lines or CSV, ending with the chain head").query("since", json!({"type": "string", "maxLength": 64})).query("until", json!({"type": "string", "maxLength": 64})).query("actor", json!({"type": "string"})).query("project_id", id()).query("environment_id", id()).query("action", json!({"type": "string"})).query("target", json!({"type": "string"})).query("format", json!({"enum": ["jsonl", "csv"]})),
        op("post", "/admin/v1/import/flagsmith", "Import", "Import a Flagsmith environment document")
            .query("project", json!({"type": "string"}))
            .query("replace", json!({"type": "boolean"}))
            .body(json!({"type": "object", "description": "An environment document as /api/v1/environment-document/ serves it"})),
        op("post", "/admin/v1/cluster/members", "Operations", "Add a node to the cluster (a learner, then a voter once it caught up, unless `learner`); answers the cluster as this node sees it")
            .ok(200, "the cluster after the change")
            .body(object(json!({"id": {"type": "integer", "minimum": 1}, "url": {"type": "string", "minLength": 1, "maxLength": 2000}, "learner": {"type": "boolean"}}), &["id", "url"])),
        op("delete", "/admin/v1/cluster/members/{id}", "Operations", "Remove a node (a voter or a learner) from the cluster").ok(200, "the cluster after the change"),
        op("get", "/admin/v1/backup", "Operations", "Stream an online backup of the whole store, consistent as of one moment (`burgee backup`; audited)").ok(200, "the backup file (application/vnd.burgee.backup)"),
    ]
}

fn path_parameters(path: &str) -> Vec<Value> {
    path.split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(|name| {
            let schema = if name == "identifier" || path.starts_with("/admin/v1/roles/") {
                json!({"type": "string", "minLength": 1, "maxLength": 2000})
            } else {
                id()
            };
            json!({"name": name, "in": "path", "required": true, "schema": schema})
        })
        .collect()
}

fn responses(operation: &Operation) -> Value {
    let error = match operation.api {
        Api::Admin => "#/components/schemas/Error",
        Api::Sdk => "#/components/schemas/SdkError",
        Api::Operations => "#/components/schemas/Status",
    };
    let mut ok = json!({"description": operation.ok.1});
    if operation.path == "/metrics" {
        ok["content"] = json!({"text/plain": {"schema": {"type": "string"}}});
    }
    json!({
        operation.ok.0.to_string(): ok,
        "default": {"description": "an error", "content": {"application/json": {"schema": {"$ref": error}}}},
    })
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = serde_json::Map::new();
    for operation in operations() {
        let mut entry = json!({
            "tags": [operation.tag],
            "summary": operation.summary,
            "responses": responses(&operation),
        });
        let mut parameters = path_parameters(operation.path);
        parameters.extend(operation.query.iter().cloned());
        if !parameters.is_empty() {
            entry["parameters"] = json!(parameters);
        }
        if let Some(body) = &operation.body {
            entry["requestBody"] =
                json!({"required": true, "content": {"application/json": {"schema": body}}});
        }
        match operation.api {
            Api::Admin => {
                let public = crate::api::auth::routes::need(operation.method, operation.path)
                    == Some(crate::api::auth::routes::Need::Public);
                entry["security"] = if public {
                    json!([])
                } else {
                    json!([{"token": []}])
                };
            }
            Api::Sdk => entry["security"] = json!([{"environmentKey": []}]),
            Api::Operations => {}
        }
        let item = paths
            .entry(operation.path.to_owned())
            .or_insert_with(|| json!({}));
        item[operation.method] = entry;
    }
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Burgee", "version": env!("CARGO_PKG_VERSION"),
                 "description": "Feature flags and remote config. `/api/v1/` is wire-compatible with Flagsmith's SDK API; `/admin/v1/` is Burgee's admin API. Admin request bodies are JSON objects sent as `application/json`."},
        "paths": paths,
        "components": {
            "securitySchemes": {
                "token": {"type": "http", "scheme": "bearer"},
                "environmentKey": {"type": "apiKey", "in": "header", "name": "X-Environment-Key"},
            },
            "schemas": {
                "Error": object(json!({"error": object(json!({"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}), &["code", "message", "details"])}), &["error"]),
                "SdkError": {"type": "object", "description": "As Flagsmith answers: {\"detail\": \"...\"}, or field errors {\"field\": [\"...\"]}."},
                "Status": {"type": "object", "properties": {"status": {"type": "string"}, "reason": {"type": "string"}}},
                "Rule": {"type": "object", "required": ["type"], "additionalProperties": false, "properties": {
                    "type": {"enum": ["ALL", "ANY", "NONE"]},
                    "conditions": {"type": "array", "items": object(json!({
                        "property": {"type": "string", "maxLength": 1000},
                        "operator": {"enum": ["EQUAL", "NOT_EQUAL", "GREATER_THAN", "GREATER_THAN_INCLUSIVE", "LESS_THAN", "LESS_THAN_INCLUSIVE", "CONTAINS", "NOT_CONTAINS", "REGEX", "PERCENTAGE_SPLIT", "MODULO", "IS_SET", "IS_NOT_SET", "IN"]},
                        "value": {"type": ["string", "null"], "maxLength": 1000},
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
