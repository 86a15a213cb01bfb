//! JSON views of users, teams, roles, grants and tokens (never a secret or its hash), and
//! the parsing of roles and scopes as requests name them.

use serde_json::{Value, json};

use super::ApiError;
use crate::access::{BuiltinRole, PermSet, RoleRef, Scope, Subject};
use crate::cache::document::iso_timestamp;
use crate::store::Catalog;
use crate::store::people::{
    ApiTokenRecord, GrantRecord, RoleRecord, TeamRecord, TokenAccess, UserRecord,
};

pub fn user(u: &UserRecord) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "active": u.active,
        "must_change_password": u.must_change_password,
        "invite_pending": u.invite.is_some(),
        "invite_expires_at": u.invite.as_ref().map(|i| iso_timestamp(i.expires_at)),
        "locked_until": u.locked_until.map(iso_timestamp),
        "created_at": iso_timestamp(u.created_at),
    })
}

pub fn team(t: &TeamRecord) -> Value {
    json!({"id": t.id, "name": t.name, "members": t.members, "created_at": iso_timestamp(t.created_at)})
}

pub fn custom_role(r: &RoleRecord) -> Value {
    json!({"id": r.id, "name": r.name, "builtin": false, "description": r.description, "permissions": r.permissions.keys(), "created_at": iso_timestamp(r.created_at)})
}

pub fn builtin_role(r: BuiltinRole) -> Value {
    json!({"id": r.name(), "name": r.name(), "builtin": true, "description": r.about(), "permissions": r.permissions().keys()})
}

pub fn role_ref(role: RoleRef, catalog: &Catalog) -> Value {
    match role {
        RoleRef::Builtin(b) => json!({"role": b.name()}),
        RoleRef::Custom(id) => {
            json!({"role": catalog.roles.get(&id).map(|r| r.name.as_str()), "role_id": id})
        }
        RoleRef::Explicit(set) => json!({"permissions": set.keys()}),
    }
}

pub fn scope(scope: Scope) -> Value {
    match scope {
        Scope::Organisation => json!({"scope": "organisation"}),
        Scope::Project(id) => json!({"scope": "project", "project_id": id}),
        Scope::Environment(id) => json!({"scope": "environment", "environment_id": id}),
    }
}

fn merged(mut a: Value, b: Value) -> Value {
    if let (Value::Object(a), Value::Object(b)) = (&mut a, b) {
        a.extend(b);
    }
    a
}

pub fn grant(g: &GrantRecord, catalog: &Catalog) -> Value {
    let subject = match g.subject {
        Subject::User(id) => json!({"user_id": id}),
        Subject::Team(id) => json!({"team_id": id}),
    };
    let mut view = merged(
        merged(json!({"id": g.id}), subject),
        merged(role_ref(g.role, catalog), scope(g.scope)),
    );
    view["created_at"] = json!(iso_timestamp(g.created_at));
    view
}

pub fn token(t: &ApiTokenRecord, catalog: &Catalog) -> Value {
    let access = match &t.access {
        TokenAccess::Owner => json!("owner"),
        TokenAccess::Assignments(list) => json!(
            list.iter()
                .map(|a| merged(role_ref(a.role, catalog), scope(a.scope)))
                .collect::<Vec<_>>()
        ),
    };
    json!({
        "id": t.id,
        "name": t.name,
        "prefix": t.prefix,
        "personal": t.access == TokenAccess::Owner,
        "owner_id": t.owner,
        "access": access,
        "expires_at": t.expires_at.map(iso_timestamp),
        "last_used_at": t.last_used_at.map(iso_timestamp),
        "created_at": iso_timestamp(t.created_at),
    })
}

/// A role named by a request: a built-in's name, or a custom role's name or id.
pub fn parse_role(name: &str, catalog: &Catalog) -> Result<RoleRef, ApiError> {
    if let Some(builtin) = BuiltinRole::from_name(name) {
        return Ok(RoleRef::Builtin(builtin));
    }
    catalog
        .roles
        .values()
        .find(|r| r.name == name || r.id.to_string() == name)
        .map(|r| RoleRef::Custom(r.id))
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "no role is named {name:?}; GET /admin/v1/roles lists them"
            ))
        })
}

/// The scope of `project_id` / `environment_id` (neither: the organisation).
pub fn parse_scope(
    project_id: Option<u32>,
    environment_id: Option<u32>,
) -> Result<Scope, ApiError> {
    match (project_id, environment_id) {
        (None, None) => Ok(Scope::Organisation),
        (Some(p), None) => Ok(Scope::Project(p)),
        (None, Some(e)) => Ok(Scope::Environment(e)),
        (Some(_), Some(_)) => Err(ApiError::bad_request(
            "give project_id or environment_id, not both",
        )),
    }
}

/// Permission keys as a request lists them.
pub fn parse_permissions(keys: &[String]) -> Result<PermSet, ApiError> {
    PermSet::from_keys(keys.iter().map(String::as_str)).map_err(ApiError::bad_request)
}
