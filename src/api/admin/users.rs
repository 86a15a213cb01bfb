//! `/admin/v1/users`: people of the organisation.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::signin::new_password_hash;
use super::{ApiError, Body, Page, by_id, created, created_id, execute, find, people_views};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::cache::document::iso_timestamp;
use crate::secrets::{Secret, secret_hash};
use crate::store::command::{Command, NewUser};
use crate::store::people::InviteRecord;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/users", get(list).post(create))
        .route(
            "/admin/v1/users/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/admin/v1/users/{id}/reset-password", post(reset))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserBody {
    email: String,
    name: String,
    /// An initial password the user must change; without it, an invitation.
    #[serde(default, deserialize_with = "super::body::given")]
    password: Option<Secret>,
    #[serde(default)]
    admin: bool,
}

/// A new invitation: the secret (shown once) and its record.
fn invite(state: &AppState) -> Result<(String, InviteRecord), ApiError> {
    let secret = super::environments::new_secret("bgi_")?;
    let lifetime = i64::try_from(state.settings.invite_lifetime.as_millis()).unwrap_or(i64::MAX);
    let record = InviteRecord {
        token_hash: secret_hash(&secret),
        expires_at: crate::clock::now_millis().saturating_add(lifetime),
    };
    Ok((secret, record))
}

fn invite_view(secret: &str, record: &InviteRecord) -> Value {
    json!({"token": secret, "expires_at": iso_timestamp(record.expires_at), "accept": "POST /admin/v1/auth/accept-invite {\"token\", \"password\"}"})
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    Ok(Json(
        page.of(catalog
            .users
            .values()
            .map(|u| (by_id(u.id), people_views::user(u))))?,
    ))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    Ok(Json(people_views::user(find(&catalog.users, "user", id)?)))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Body(body): Body<NewUserBody>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let (password_hash, invitation) = match &body.password {
        Some(password) => (Some(new_password_hash(password, &body.email).await?), None),
        None => (None, Some(invite(&state)?)),
    };
    let command = Command::CreateUser(NewUser {
        email: body.email.clone(),
        name: body.name,
        must_change_password: password_hash.is_some(),
        password_hash,
        invite: invitation.as_ref().map(|(_, r)| r.clone()),
        admin: body.admin,
    });
    let id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    let mut view = people_views::user(find(&catalog.users, "user", id)?);
    if let Some((secret, record)) = &invitation {
        view["invite"] = invite_view(secret, record);
    }
    Ok(created(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Changes {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    #[serde(default, deserialize_with = "super::body::given")]
    active: Option<bool>,
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<Changes>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        &caller,
        Command::UpdateUser {
            id,
            name: body.name,
            active: body.active,
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
    execute(&state, &caller, Command::DeleteUser { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reset {
    /// A new initial password the user must change; without it, a new invitation.
    #[serde(default, deserialize_with = "super::body::given")]
    password: Option<Secret>,
}

async fn reset(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<Reset>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let email = find(&catalog.users, "user", id)?.email.clone();
    let (password_hash, invitation) = match &body.password {
        Some(password) => (Some(new_password_hash(password, &email).await?), None),
        None => (None, Some(invite(&state)?)),
    };
    let command = Command::ResetPassword {
        user_id: id,
        password_hash,
        invite: invitation.as_ref().map(|(_, r)| r.clone()),
    };
    execute(&state, &caller, command).await?;
    let catalog = state.store.catalog();
    let mut view = people_views::user(find(&catalog.users, "user", id)?);
    if let Some((secret, record)) = &invitation {
        view["invite"] = invite_view(secret, record);
    }
    Ok(Json(view))
}
