//! `/admin/v1/projects`.

use axum::extract::{Path, Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::command::Command;

use super::{ApiError, Body, Page, by_id, created, created_id, execute, find, views};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/projects", get(list).post(create))
        .route(
            "/admin/v1/projects/{id}",
            get(read).patch(update).delete(remove),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewProject {
    name: String,
    #[serde(default)]
    hide_disabled_flags: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProjectChanges {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::body::given")]
    hide_disabled_flags: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    Ok(Json(
        page.of(catalog
            .projects
            .values()
            .filter(|p| caller.can(&catalog, Permission::ViewProject, Target::Project(p.id)))
            .map(|p| (by_id(p.id), views::project(p))))?,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewProject>,
) -> Result<(axum::http::StatusCode, Json<Value>), ApiError> {
    let applied = execute(
        &state,
        &caller,
        Command::CreateProject {
            name: body.name,
            hide_disabled_flags: body.hide_disabled_flags,
        },
    )
    .await?;
    let id = created_id(&applied)?;
    let catalog = state.store.catalog();
    let project = find(&catalog.projects, "project", id)?;
    Ok(created(views::project(project)))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let project = find(&catalog.projects, "project", id)?;
    Ok(Json(views::project(project)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<ProjectChanges>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        &caller,
        Command::UpdateProject {
            id,
            name: body.name,
            hide_disabled_flags: body.hide_disabled_flags,
        },
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<axum::http::StatusCode, ApiError> {
    execute(&state, &caller, Command::DeleteProject { id }).await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
