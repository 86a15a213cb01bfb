//! `/admin/v1/teams`: groups of users that grants can name.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use super::{ApiError, Body, Page, by_id, created, created_id, execute, find, people_views};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::command::Command;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/teams", get(list).post(create))
        .route(
            "/admin/v1/teams/{id}",
            get(read).patch(update).delete(remove),
        )
        .route(
            "/admin/v1/teams/{id}/members/{user_id}",
            put(add_member).delete(remove_member),
        )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Named {
    name: String,
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    Ok(Json(
        page.of(catalog
            .teams
            .values()
            .map(|t| (by_id(t.id), people_views::team(t))))?,
    ))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    Ok(Json(people_views::team(find(&catalog.teams, "team", id)?)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<Named>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let id = created_id(&execute(&state, &caller, Command::CreateTeam { name: body.name }).await?)?;
    let catalog = state.store.catalog();
    Ok(created(people_views::team(find(
        &catalog.teams,
        "team",
        id,
    )?)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<Named>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        &caller,
        Command::UpdateTeam {
            id,
            name: body.name,
        },
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    execute(&state, &caller, Command::DeleteTeam { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(u32, u32)>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        &caller,
        Command::AddTeamMember {
            team_id: id,
            user_id,
        },
    )
    .await?;
    read(State(state), caller, Path(id)).await
}

async fn remove_member(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, user_id)): Path<(u32, u32)>,
) -> Result<StatusCode, ApiError> {
    execute(
        &state,
        &caller,
        Command::RemoveTeamMember {
            team_id: id,
            user_id,
        },
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
