//! The route table: every admin route and the permission it needs, in one place, and the
//! one middleware that enforces it. A route the table does not list answers 500 (and the
//! tests fail), so no route goes out without a declared permission.

use axum::extract::{MatchedPath, RawPathParams, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::Caller;
use super::authenticate::{Refusal, authenticate};
use super::client::client;
use crate::access::{Permission as P, Target};
use crate::api::AppState;
use crate::api::admin::ApiError;
use crate::store::Catalog;
use crate::store::command::{Command, Envelope, SecurityEvent};

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// No credential (signing in, first-start setup, accepting an invitation).
    Public,
    /// Any valid credential.
    Signed,
    Organisation(P),
    /// On the project whose id is in the named path parameter.
    Project(P, &'static str),
    /// On the environment whose id is in the named path parameter.
    Environment(P, &'static str),
    /// On the project of the feature in the named path parameter.
    FeatureProject(P, &'static str),
    /// On the project of the segment in the named path parameter.
    SegmentProject(P, &'static str),
    /// On the environment of the server key in the named path parameter.
    KeyEnvironment(P, &'static str),
    /// Held anywhere; the answer shows only what the caller may see.
    Anywhere(P),
}

use Need::{
    Anywhere, Environment as Env, FeatureProject, KeyEnvironment, Organisation as Org, Project,
    Public, SegmentProject, Signed,
};

/// Every admin route: (method, path as routed, need).
pub const ROUTES: &[(&str, &str, Need)] = &[
    ("post", "/admin/v1/setup", Public),
    ("post", "/admin/v1/auth/login", Public),
    ("post", "/admin/v1/auth/accept-invite", Public),
    ("post", "/admin/v1/auth/logout", Signed),
    ("get", "/admin/v1/auth/whoami", Signed),
    ("post", "/admin/v1/auth/password", Signed),
    ("get", "/admin/v1/auth/tokens", Signed),
    ("post", "/admin/v1/auth/tokens", Signed),
    ("delete", "/admin/v1/auth/tokens/{id}", Signed),
    ("get", "/admin/v1/permissions", Signed),
    ("get", "/admin/v1/organisation", Signed),
    ("patch", "/admin/v1/organisation", Org(P::ManageSettings)),
    ("get", "/admin/v1/users", Org(P::ManageUsers)),
    ("post", "/admin/v1/users", Org(P::ManageUsers)),
    ("get", "/admin/v1/users/{id}", Org(P::ManageUsers)),
    ("patch", "/admin/v1/users/{id}", Org(P::ManageUsers)),
    ("delete", "/admin/v1/users/{id}", Org(P::ManageUsers)),
    (
        "post",
        "/admin/v1/users/{id}/reset-password",
        Org(P::ManageUsers),
    ),
    ("get", "/admin/v1/teams", Org(P::ManageTeams)),
    ("post", "/admin/v1/teams", Org(P::ManageTeams)),
    ("get", "/admin/v1/teams/{id}", Org(P::ManageTeams)),
    ("patch", "/admin/v1/teams/{id}", Org(P::ManageTeams)),
    ("delete", "/admin/v1/teams/{id}", Org(P::ManageTeams)),
    (
        "put",
        "/admin/v1/teams/{id}/members/{user_id}",
        Org(P::ManageTeams),
    ),
    (
        "delete",
        "/admin/v1/teams/{id}/members/{user_id}",
        Org(P::ManageTeams),
    ),
    ("get", "/admin/v1/roles", Signed),
    ("post", "/admin/v1/roles", Org(P::ManageUsers)),
    ("get", "/admin/v1/roles/{id}", Signed),
    ("patch", "/admin/v1/roles/{id}", Org(P::ManageUsers)),
    ("delete", "/admin/v1/roles/{id}", Org(P::ManageUsers)),
    ("get", "/admin/v1/grants", Org(P::ManageUsers)),
    ("post", "/admin/v1/grants", Org(P::ManageUsers)),
    ("delete", "/admin/v1/grants/{id}", Org(P::ManageUsers)),
    ("get", "/admin/v1/tokens", Org(P::ManageTokens)),
    ("post", "/admin/v1/tokens", Org(P::ManageTokens)),
    ("delete", "/admin/v1/tokens/{id}", Org(P::ManageTokens)),
    ("post", "/admin/v1/tokens/{id}/rotate", Org(P::ManageTokens)),
    ("get", "/admin/v1/audit", Anywhere(P::ViewProjectAuditLog)),
    ("get", "/admin/v1/audit/verify", Org(P::ViewAuditLog)),
    ("get", "/admin/v1/audit/export", Org(P::ViewAuditLog)),
    ("get", "/admin/v1/projects", Anywhere(P::ViewProject)),
    ("post", "/admin/v1/projects", Org(P::CreateProject)),
    (
        "get",
        "/admin/v1/projects/{id}",
        Project(P::ViewProject, "id"),
    ),
    (
        "patch",
        "/admin/v1/projects/{id}",
        Project(P::ManageProject, "id"),
    ),
    (
        "delete",
        "/admin/v1/projects/{id}",
        Project(P::ManageProject, "id"),
    ),
    (
        "get",
        "/admin/v1/projects/{id}/environments",
        Project(P::ViewProject, "id"),
    ),
    (
        "post",
        "/admin/v1/projects/{id}/environments",
        Project(P::CreateEnvironment, "id"),
    ),
    (
        "get",
        "/admin/v1/environments",
        Anywhere(P::ViewEnvironment),
    ),
    (
        "get",
        "/admin/v1/environments/{id}",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "patch",
        "/admin/v1/environments/{id}",
        Env(P::ManageEnvironment, "id"),
    ),
    (
        "delete",
        "/admin/v1/environments/{id}",
        Env(P::ManageEnvironment, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/document",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/feature-states",
        Env(P::ViewEnvironment, "id"),
    ),
    // The handler checks the other environment too.
    (
        "get",
        "/admin/v1/environments/{id}/compare/{other_id}",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "patch",
        "/admin/v1/environments/{id}/features/{feature_id}/state",
        Env(P::UpdateFeatureState, "id"),
    ),
    // The handlers check each environment of the body too: seeing it for a dry run,
    // UPDATE_FEATURE_STATE (and MANAGE_SEGMENT_OVERRIDES for overrides) to change it.
    (
        "post",
        "/admin/v1/environments/{id}/promote",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "post",
        "/admin/v1/projects/{id}/bulk-edit",
        Project(P::ViewProject, "id"),
    ),
    // Flags as code. Applying checks what the planned changes need (CREATE_PROJECT for a
    // new project; on an existing one the project's and each environment's permissions).
    (
        "get",
        "/admin/v1/projects/{id}/manifest",
        Project(P::ViewProject, "id"),
    ),
    ("post", "/admin/v1/manifest", Signed),
    // With stored traits the handler checks VIEW_IDENTITIES too.
    (
        "post",
        "/admin/v1/environments/{id}/explain",
        Env(P::ViewEnvironment, "id"),
    ),
    // Read from the audit log: who changed what.
    (
        "get",
        "/admin/v1/features/{id}/history",
        FeatureProject(P::ViewProjectAuditLog, "id"),
    ),
    // The handler checks MANAGE_SEGMENT_OVERRIDES too when overrides change.
    (
        "post",
        "/admin/v1/environments/{id}/features/{feature_id}/rollback",
        Env(P::UpdateFeatureState, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "put",
        "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides",
        Env(P::ManageSegmentOverrides, "id"),
    ),
    (
        "put",
        "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}",
        Env(P::ManageSegmentOverrides, "id"),
    ),
    (
        "delete",
        "/admin/v1/environments/{id}/features/{feature_id}/segment-overrides/{segment_id}",
        Env(P::ManageSegmentOverrides, "id"),
    ),
    (
        "get",
        "/admin/v1/projects/{id}/features",
        Project(P::ViewProject, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/feature-usage",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/features/{feature_id}/evaluations",
        Env(P::ViewEnvironment, "id"),
    ),
    (
        "get",
        "/admin/v1/projects/{id}/stale-features",
        Project(P::ViewProject, "id"),
    ),
    (
        "post",
        "/admin/v1/projects/{id}/features",
        Project(P::CreateFeature, "id"),
    ),
    (
        "get",
        "/admin/v1/features/{id}",
        FeatureProject(P::ViewProject, "id"),
    ),
    (
        "patch",
        "/admin/v1/features/{id}",
        FeatureProject(P::EditFeature, "id"),
    ),
    (
        "delete",
        "/admin/v1/features/{id}",
        FeatureProject(P::DeleteFeature, "id"),
    ),
    (
        "get",
        "/admin/v1/projects/{id}/segments",
        Project(P::ViewProject, "id"),
    ),
    (
        "post",
        "/admin/v1/projects/{id}/segments",
        Project(P::ManageSegments, "id"),
    ),
    (
        "get",
        "/admin/v1/segments/{id}",
        SegmentProject(P::ViewProject, "id"),
    ),
    (
        "patch",
        "/admin/v1/segments/{id}",
        SegmentProject(P::ManageSegments, "id"),
    ),
    (
        "delete",
        "/admin/v1/segments/{id}",
        SegmentProject(P::ManageSegments, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/identities",
        Env(P::ViewIdentities, "id"),
    ),
    (
        "delete",
        "/admin/v1/environments/{id}/identities",
        Env(P::ManageIdentities, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/identities/{identifier}",
        Env(P::ViewIdentities, "id"),
    ),
    (
        "delete",
        "/admin/v1/environments/{id}/identities/{identifier}",
        Env(P::ManageIdentities, "id"),
    ),
    (
        "put",
        "/admin/v1/environments/{id}/identities/{identifier}/traits",
        Env(P::ManageIdentities, "id"),
    ),
    (
        "put",
        "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}",
        Env(P::ManageIdentities, "id"),
    ),
    (
        "delete",
        "/admin/v1/environments/{id}/identities/{identifier}/overrides/{feature_id}",
        Env(P::ManageIdentities, "id"),
    ),
    (
        "get",
        "/admin/v1/environments/{id}/server-keys",
        Env(P::ManageServerKeys, "id"),
    ),
    (
        "post",
        "/admin/v1/environments/{id}/server-keys",
        Env(P::ManageServerKeys, "id"),
    ),
    (
        "delete",
        "/admin/v1/server-keys/{id}",
        KeyEnvironment(P::ManageServerKeys, "id"),
    ),
    (
        "post",
        "/admin/v1/server-keys/{id}/rotate",
        KeyEnvironment(P::ManageServerKeys, "id"),
    ),
    (
        "post",
        "/admin/v1/import/flagsmith",
        Org(P::ImportEnvironments),
    ),
    ("post", "/admin/v1/cluster/members", Org(P::ManageCluster)),
    ("get", "/admin/v1/backup", Org(P::TakeBackups)),
    (
        "delete",
        "/admin/v1/cluster/members/{id}",
        Org(P::ManageCluster),
    ),
];

/// The need of a route, if the table lists it.
pub fn need(method: &str, path: &str) -> Option<Need> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(_, _, need)| *need)
}

/// Routes a user who must change their password may still use.
const BEFORE_PASSWORD_CHANGE: &[&str] = &[
    "/admin/v1/auth/whoami",
    "/admin/v1/auth/logout",
    "/admin/v1/auth/password",
];

/// The permission and target a need asks for, given the path's parameters. An id that does
/// not parse or names nothing asks for the permission organisation-wide (so a refusal does
/// not reveal what exists; an admin then gets the handler's 404).
fn requirement(need: Need, params: &RawPathParams, catalog: &Catalog) -> Option<(P, Target)> {
    let id = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.parse::<u32>().ok())
    };
    let or_org = |target: Option<Target>| target.unwrap_or(Target::Organisation);
    Some(match need {
        Need::Public | Need::Signed => return None,
        Need::Organisation(p) => (p, Target::Organisation),
        Need::Anywhere(p) => (p, Target::Anywhere),
        Need::Project(p, name) => (
            p,
            or_org(
                id(name)
                    .filter(|i| catalog.projects.contains_key(i))
                    .map(Target::Project),
            ),
        ),
        Need::Environment(p, name) => (
            p,
            or_org(
                id(name)
                    .filter(|i| catalog.environments.contains_key(i))
                    .map(Target::Environment),
            ),
        ),
        Need::FeatureProject(p, name) => (
            p,
            or_org(
                id(name)
                    .and_then(|i| catalog.features.get(&i))
                    .map(|f| Target::Project(f.project_id)),
            ),
        ),
        Need::SegmentProject(p, name) => (
            p,
            or_org(
                id(name)
                    .and_then(|i| catalog.segments.get(&i))
                    .map(|s| Target::Project(s.project_id)),
            ),
        ),
        Need::KeyEnvironment(p, name) => (
            p,
            or_org(
                id(name)
                    .and_then(|i| catalog.server_keys.get(&i))
                    .map(|k| Target::Environment(k.environment_id)),
            ),
        ),
    })
}

/// The one authorisation middleware of the admin API.
pub async fn authorize(
    State(state): State<AppState>,
    matched: Option<MatchedPath>,
    params: RawPathParams,
    request: Request,
    next: Next,
) -> Response {
    let path = matched.as_ref().map_or("", MatchedPath::as_str).to_owned();
    let method = request.method().as_str().to_ascii_lowercase();
    let Some(need) = need(&method, &path) else {
        if ROUTES.iter().any(|(_, p, _)| *p == path) {
            // Another method of a declared path: never served without a declared need.
            return ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("{path} does not take {}", method.to_ascii_uppercase()),
            )
            .into_response();
        }
        return ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "undeclared_route",
            format!("{method} {path} declares no permission"),
        )
        .into_response();
    };
    if need == Need::Public {
        return next.run(request).await;
    }
    let (mut parts, body) = request.into_parts();
    let client = client(&parts, &state.settings.trusted_proxies, false);
    let local = parts.extensions.get::<LocalSocket>().is_some();
    let mut authenticated = if local {
        Ok(local_caller(&parts))
    } else {
        authenticate(&parts, &state, &client)
    };
    if matches!(authenticated, Err(Refusal::Unauthenticated(_))) {
        // The credential may be newer than this node's state (a node catching up after a
        // restart, a token made through another node a moment ago): a refusal is a read,
        // so it is answered from state that holds everything committed.
        if let Err(error) = state.store.linearize().await {
            return ApiError::from(error).into_response();
        }
        authenticated = authenticate(&parts, &state, &client);
    }
    let caller = match authenticated {
        Ok(caller) => caller,
        Err(Refusal::Unauthenticated(message)) => {
            return ApiError::unauthorized(message).into_response();
        }
        Err(Refusal::Csrf) => {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                format!(
                    "a signed-in browser must send the {} header on changes",
                    super::authenticate::CSRF_HEADER
                ),
            )
            .into_response();
        }
    };
    let catalog = state.store.catalog();
    if let Some(user_id) = caller.user_id(&catalog)
        && catalog
            .users
            .get(&user_id)
            .is_some_and(|u| u.must_change_password)
        && !BEFORE_PASSWORD_CHANGE.contains(&path.as_str())
    {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "password_change_required",
            "choose a new password first: POST /admin/v1/auth/password",
        )
        .into_response();
    }
    if let Some((permission, target)) = requirement(need, &params, &catalog)
        && !caller.can(&catalog, permission, target)
    {
        // As above: a grant made through another node a moment ago counts.
        if let Err(error) = state.store.linearize().await {
            return ApiError::from(error).into_response();
        }
        let catalog = state.store.catalog();
        let still = requirement(need, &params, &catalog);
        if still.is_none_or(|(permission, target)| !caller.can(&catalog, permission, target)) {
            return denied(&state, &caller, &method, &path, permission).await;
        }
    }
    parts.extensions.insert(caller);
    next.run(Request::from_parts(parts, body)).await
}

/// Marks requests that came through the admin socket in the data directory (mode 0600, so
/// only the service's own user reaches it). Only that listener's router sets it.
#[derive(Debug, Clone, Copy)]
pub struct LocalSocket;

fn local_caller(parts: &axum::http::request::Parts) -> Caller {
    Caller {
        actor: crate::store::command::Actor::Local,
        principal: super::Principal::Local,
        request_id: super::authenticate::request_id(parts),
        origin: crate::store::command::Origin {
            address: Some("local socket".into()),
            user_agent: None,
        },
        access: std::sync::Arc::new(crate::access::Access::everything()),
    }
}

/// A 403, recorded in the audit log (its only state change).
async fn denied(
    state: &AppState,
    caller: &Caller,
    method: &str,
    path: &str,
    permission: P,
) -> Response {
    metrics::counter!("burgee_access_denied_total", "permission" => permission.key()).increment(1);
    let event = SecurityEvent::AccessDenied {
        method: method.to_ascii_uppercase(),
        path: path.to_owned(),
        permission: permission.key().to_owned(),
    };
    let envelope = Envelope::now(
        caller.actor.clone(),
        caller.request_id.clone(),
        Command::RecordEvent(event),
    )
    .from_origin(caller.origin.clone());
    match state.store.execute(envelope).await {
        Ok(_) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this needs the permission {}", permission.key()),
        )
        .with_details(serde_json::json!({"permission": permission.key()}))
        .into_response(),
        Err(error) => ApiError::from(error).into_response(),
    }
}
