//! `/admin/v1/permissions`, `/admin/v1/roles` (built-in and custom) and `/admin/v1/grants`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::people_views::{self, parse_permissions, parse_role, parse_scope};
use super::{ApiError, Body, Page, by_id, created, created_id, execute, find};
use crate::access::{BuiltinRole, Level, Permission, Subject};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::command::Command;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/permissions", get(permissions))
        .route("/admin/v1/roles", get(list_roles).post(create_role))
        .route(
            "/admin/v1/roles/{id}",
            get(read_role).patch(update_role).delete(delete_role),
        )
        .route("/admin/v1/grants", get(list_grants).post(create_grant))
        .route("/admin/v1/grants/{id}", delete(delete_grant))
}

async fn permissions(_caller: Caller) -> Json<Value> {
    let level = |l: Level| match l {
        Level::Organisation => "organisation",
        Level::Project => "project",
        Level::Environment => "environment",
    };
    Json(
        json!({"items": Permission::ALL.iter().map(|p| json!({"key": p.key(), "level": level(p.level()), "description": p.about()})).collect::<Vec<_>>()}),
    )
}

async fn list_roles(State(state): State<AppState>, _caller: Caller) -> Json<Value> {
    let catalog = state.store.catalog();
    let mut items: Vec<Value> = BuiltinRole::ALL
        .into_iter()
        .map(people_views::builtin_role)
        .collect();
    items.extend(catalog.roles.values().map(people_views::custom_role));
    Json(json!({"items": items}))
}

async fn read_role(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if let Some(builtin) = BuiltinRole::from_name(&id) {
        return Ok(Json(people_views::builtin_role(builtin)));
    }
    let catalog = state.store.catalog();
    let id: u32 = id.parse().map_err(|_| ApiError::not_found("role", &id))?;
    Ok(Json(people_views::custom_role(find(
        &catalog.roles,
        "role",
        id,
    )?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRole {
    name: String,
    #[serde(default)]
    description: Option<String>,
    permissions: Vec<String>,
}

async fn create_role(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewRole>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let permissions = parse_permissions(&body.permissions)?;
    let id = created_id(
        &execute(
            &state,
            &caller,
            Command::CreateRole {
                name: body.name,
                description: body.description,
                permissions,
            },
        )
        .await?,
    )?;
    let catalog = state.store.catalog();
    Ok(created(people_views::custom_role(find(
        &catalog.roles,
        "role",
        id,
    )?)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoleChanges {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::body::given")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::body::given")]
    permissions: Option<Vec<String>>,
}

fn custom_id(id: &str) -> Result<u32, ApiError> {
    if BuiltinRole::from_name(id).is_some() {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "builtin_role",
            "built-in roles cannot be changed; create a custom role",
        ));
    }
    id.parse().map_err(|_| ApiError::not_found("role", id))
}

async fn update_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Body(body): Body<RoleChanges>,
) -> Result<Json<Value>, ApiError> {
    let numeric = custom_id(&id)?;
    let permissions = body
        .permissions
        .as_deref()
        .map(parse_permissions)
        .transpose()?;
    execute(
        &state,
        &caller,
        Command::UpdateRole {
            id: numeric,
            name: body.name,
            description: body.description,
            permissions,
        },
    )
    .await?;
    read_role(State(state), caller, Path(id)).await
}

async fn delete_role(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    execute(
        &state,
        &caller,
        Command::DeleteRole {
            id: custom_id(&id)?,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantFilter {
    #[serde(default)]
    user_id: Option<u32>,
    #[serde(default)]
    team_id: Option<u32>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
}

async fn list_grants(
    State(state): State<AppState>,
    _caller: Caller,
    Query(filter): Query<GrantFilter>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let page = Page {
        limit: filter.limit,
        cursor: filter.cursor.clone(),
    };
    Ok(Json(
        page.of(catalog
            .grants
            .values()
            .filter(|g| match g.subject {
                Subject::User(id) => {
                    filter.team_id.is_none() && filter.user_id.is_none_or(|u| u == id)
                }
                Subject::Team(id) => {
                    filter.user_id.is_none() && filter.team_id.is_none_or(|t| t == id)
                }
            })
            .map(|g| (by_id(g.id), people_views::grant(g, &catalog))))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewGrant {
    #[serde(default, deserialize_with = "super::body::given")]
    user_id: Option<u32>,
    #[serde(default, deserialize_with = "super::body::given")]
    team_id: Option<u32>,
    role: String,
    #[serde(default, deserialize_with = "super::body::given")]
    project_id: Option<u32>,
    #[serde(default, deserialize_with = "super::body::given")]
    environment_id: Option<u32>,
}

async fn create_grant(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewGrant>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let catalog = state.store.catalog();
    let subject = match (body.user_id, body.team_id) {
        (Some(u), None) => Subject::User(u),
        (None, Some(t)) => Subject::Team(t),
        _ => {
            return Err(ApiError::bad_request(
                "a grant is for one user_id or one team_id",
            ));
        }
    };
    let command = Command::CreateGrant {
        subject,
        role: parse_role(&body.role, &catalog)?,
        scope: parse_scope(body.project_id, body.environment_id)?,
    };
    let id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    Ok(created(people_views::grant(
        find(&catalog.grants, "grant", id)?,
        &catalog,
    )))
}

async fn delete_grant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    execute(&state, &caller, Command::DeleteGrant { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
