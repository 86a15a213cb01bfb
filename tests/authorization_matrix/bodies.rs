//! The matrix's request bodies: a valid one for each route that takes one.

use serde_json::{Value, json};

use super::{Fixture, Kind, UNREACHABLE_NODE};

/// A valid body for the route (names made unique by `n`).
pub fn body(method: &str, path: &str, n: usize, fixture: &Fixture, kind: Kind) -> Option<Value> {
    let subject = fixture.ids["subject"];
    let password = fixture.passwords.get(&kind).cloned().unwrap_or_default();
    Some(match (method, path) {
        ("post", "/admin/v1/auth/password") => {
            json!({"current_password": password, "new_password": format!("a new password {n}")})
        }
        ("post", "/admin/v1/auth/tokens") => json!({"name": format!("personal {n}")}),
        ("patch", "/admin/v1/organisation") => json!({"name": format!("Acme {n}")}),
        ("post", "/admin/v1/users") => {
            json!({"email": format!("new{n}@example.com"), "name": "New", "password": "initial password 99"})
        }
        ("patch", "/admin/v1/users/{id}") => json!({"name": format!("Subject {n}")}),
        ("post", "/admin/v1/users/{id}/reset-password") => {
            json!({"password": format!("reset password {n}")})
        }
        ("post", "/admin/v1/teams") | ("patch", "/admin/v1/teams/{id}") => {
            json!({"name": format!("Team {n}")})
        }
        ("post", "/admin/v1/roles") => {
            json!({"name": format!("role {n}"), "permissions": ["VIEW_PROJECT"]})
        }
        (
            "patch",
            "/admin/v1/roles/{id}" | "/admin/v1/features/{id}" | "/admin/v1/segments/{id}",
        ) => {
            json!({"description": format!("changed {n}")})
        }
        ("post", "/admin/v1/grants") => {
            json!({"user_id": subject, "role": "editor", "environment_id": 1 + (n % 3)})
        }
        ("post", "/admin/v1/tokens") => json!({"name": format!("token {n}"), "role": "viewer"}),
        ("post", "/admin/v1/tokens/{id}/rotate" | "/admin/v1/server-keys/{id}/rotate") => json!({}),
        ("post", "/admin/v1/projects") => json!({"name": format!("Project {n}")}),
        ("patch", "/admin/v1/projects/{id}") => json!({"name": format!("Web {n}")}),
        ("post", "/admin/v1/projects/{id}/environments") => json!({"name": format!("Env {n}")}),
        ("patch", "/admin/v1/environments/{id}") => json!({"name": format!("Staging {n}")}),
        ("patch", "/admin/v1/environments/{id}/features/{feature_id}/state")
        | (
            "put",
            "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}"
            | "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}",
        ) => json!({"enabled": n.is_multiple_of(2)}),
        ("put", "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides") => {
            json!({"segment_ids": [1]})
        }
        // The environment editor holds nothing beyond the source: its promotion is refused
        // as a bad request before any target's permission is looked at. A viewer previews.
        ("post", "/admin/v1/environments/{id}/promote") => match kind {
            Kind::EnvironmentEditor => json!({"to": [1], "features": ["banner"]}),
            _ => json!({"to": [2], "features": ["banner"], "dry_run": kind == Kind::Viewer}),
        },
        ("post", "/admin/v1/environments/{id}/features/{feature_id}/rollback") => {
            json!({"to": fixture.ids["audit_head"], "dry_run": n.is_multiple_of(2)})
        }
        ("post", "/admin/v1/environments/{id}/explain") => {
            json!({"identifier": "alice", "traits": {"plan": "pro"}, "stored_traits": false})
        }
        ("post", "/admin/v1/manifest") => json!({
            "manifest": {"version": 1, "project": {"name": "Web"}, "environments": [
                {"name": "Staging", "flags": {"banner": {"enabled": true}}}]},
            "dry_run": true,
        }),
        ("post", "/admin/v1/projects/{id}/bulk-edit") => json!({
            "environments": [1], "features": ["banner"], "enabled": n.is_multiple_of(2),
            "dry_run": kind == Kind::Viewer,
        }),
        ("post", "/admin/v1/projects/{id}/features") => json!({"name": format!("feature {n}")}),
        ("post", "/admin/v1/projects/{id}/segments") => {
            json!({"name": format!("segment {n}"), "rules": []})
        }
        ("put", "/admin/v1/environments/{id}/identities/{identifier}/traits") => {
            json!({"traits": {"n": n}})
        }
        ("post", "/admin/v1/environments/{id}/server-keys") => json!({"name": format!("key {n}")}),
        ("post", "/admin/v1/cluster/members") => {
            json!({"id": 100 + n, "url": UNREACHABLE_NODE, "learner": true})
        }
        ("post", "/admin/v1/import/flagsmith") => {
            let mut document = fixture.document.clone();
            document["api_key"] = json!(format!("imported{n}"));
            document["name"] = json!(format!("Imported {n}"));
            document
        }
        _ => return None,
    })
}
