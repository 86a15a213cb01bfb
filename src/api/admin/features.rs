//! `/admin/v1/projects/{id}/features` and `/admin/v1/features/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::command::{self, Command, NewOption};
use crate::store::records::StoredFeatureKind;

use super::values::stored_value;
use super::{ApiError, Body, Page, by_id, created, created_id, execute, find, views};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/projects/{id}/features", get(list).post(create))
        .route(
            "/admin/v1/features/{id}",
            get(read).patch(update).delete(remove),
        )
}

#[derive(Deserialize, Clone, Copy, Default)]
enum Kind {
    #[default]
    #[serde(rename = "STANDARD")]
    Standard,
    #[serde(rename = "MULTIVARIATE")]
    Multivariate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OptionBody {
    value: Value,
    key: Option<String>,
    #[serde(default)]
    default_weight: f64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFeature {
    name: String,
    #[serde(rename = "type", default)]
    kind: Kind,
    description: Option<String>,
    #[serde(default)]
    initial_value: Value,
    #[serde(default)]
    default_enabled: bool,
    #[serde(default)]
    server_key_only: bool,
    #[serde(default)]
    options: Vec<super::body::Object<OptionBody>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureChanges {
    #[serde(default, deserialize_with = "super::body::given")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::body::given")]
    server_key_only: Option<bool>,
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path(project_id): Path<u32>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.projects, "project", project_id)?;
    Ok(Json(
        page.of(catalog
            .project_features(project_id)
            .map(|f| (by_id(f.id), views::feature(f))))?,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
    Body(body): Body<NewFeature>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    // Options make a feature multivariate whatever type was asked for.
    let kind = match (body.kind, body.options.is_empty()) {
        (Kind::Standard, true) => StoredFeatureKind::Standard,
        _ => StoredFeatureKind::Multivariate,
    };
    let options = body
        .options
        .iter()
        .map(|super::body::Object(o)| {
            Ok(NewOption {
                value: stored_value(&o.value)?,
                key: o.key.clone(),
                default_weight: o.default_weight,
            })
        })
        .collect::<Result<Vec<_>, ApiError>>()?;
    let command = Command::CreateFeature(command::NewFeature {
        project_id,
        name: body.name,
        kind,
        description: body.description,
        initial_value: stored_value(&body.initial_value)?,
        default_enabled: body.default_enabled,
        server_key_only: body.server_key_only,
        options,
    });
    let id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    let feature = find(&catalog.features, "feature", id)?;
    Ok(created(views::feature(feature)))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let feature = find(&catalog.features, "feature", id)?;
    Ok(Json(views::feature(feature)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<FeatureChanges>,
) -> Result<Json<Value>, ApiError> {
    execute(
        &state,
        &caller,
        Command::UpdateFeature {
            id,
            description: body.description,
            server_key_only: body.server_key_only,
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
    execute(&state, &caller, Command::DeleteFeature { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}
