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
    /// Burgee's own labels (`team:payments`, `temporary`).
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FeatureChanges {
    #[serde(default, deserialize_with = "super::body::given")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "super::body::given")]
    server_key_only: Option<bool>,
    /// Replaces the feature's tags.
    #[serde(default, deserialize_with = "super::body::given")]
    tags: Option<Vec<String>>,
    /// `true` hides the feature from SDKs and lists (its states are kept); `false` restores
    /// it.
    #[serde(default, deserialize_with = "super::body::given")]
    archived: Option<bool>,
}

/// Which features a list shows, by their archive mark.
#[derive(Deserialize, Clone, Copy, Default, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Archived {
    /// Those in use (the default).
    #[default]
    False,
    /// Only the archived ones.
    True,
    Any,
}

/// `?tag=&archived=&limit=&cursor=`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    /// Features carrying every one of these tags (comma-separated).
    tag: Option<String>,
    #[serde(default)]
    archived: Archived,
    limit: Option<usize>,
    cursor: Option<String>,
}

async fn list(
    State(state): State<AppState>,
    _caller: Caller,
    Path(project_id): Path<u32>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.projects, "project", project_id)?;
    let tags = tag_list(query.tag.as_deref());
    let page = Page {
        limit: query.limit,
        cursor: query.cursor,
    };
    Ok(Json(
        page.of(catalog
            .project_features(project_id)
            .filter(|f| match query.archived {
                Archived::False => !catalog.archived(f.id),
                Archived::True => catalog.archived(f.id),
                Archived::Any => true,
            })
            .filter(|f| has_tags(&catalog, f.id, &tags))
            .map(|f| (by_id(f.id), views::feature(&catalog, f))))?,
    ))
}

/// `a,b` as tags (commas never occur in a tag).
pub fn tag_list(text: Option<&str>) -> Vec<String> {
    text.into_iter()
        .flat_map(|t| t.split(','))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Whether feature `id` carries every one of `tags`.
pub fn has_tags(catalog: &crate::store::Catalog, id: u32, tags: &[String]) -> bool {
    let have = catalog.tags(id);
    tags.iter().all(|t| have.contains(t))
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
    let feature = command::NewFeature {
        project_id,
        name: body.name,
        kind,
        description: body.description,
        initial_value: stored_value(&body.initial_value)?,
        default_enabled: body.default_enabled,
        server_key_only: body.server_key_only,
        options,
    };
    // Untagged features keep the first format's command, which every version reads.
    let command = if body.tags.is_empty() {
        Command::CreateFeature(feature)
    } else {
        Command::CreateTaggedFeature {
            feature,
            tags: body.tags,
        }
    };
    let id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    let feature = find(&catalog.features, "feature", id)?;
    Ok(created(views::feature(&catalog, feature)))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let feature = find(&catalog.features, "feature", id)?;
    Ok(Json(views::feature(&catalog, feature)))
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    Body(body): Body<FeatureChanges>,
) -> Result<Json<Value>, ApiError> {
    let command = if body.tags.is_none() && body.archived.is_none() {
        Command::UpdateFeature {
            id,
            description: body.description,
            server_key_only: body.server_key_only,
        }
    } else {
        Command::EditFeature {
            id,
            description: body.description,
            server_key_only: body.server_key_only,
            tags: body.tags,
            archived: body.archived,
        }
    };
    execute(&state, &caller, command).await?;
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
