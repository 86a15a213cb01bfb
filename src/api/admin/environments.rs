//! `/admin/v1/projects/{id}/environments` and `/admin/v1/environments/{id}`.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::Value;

use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::command::{Command, SettingsPatch, StatePatch};
use crate::store::records::{EnvironmentSettingsRecord, StateTarget, VariantWeightRecord};

use super::values::stored_value;
use super::{
    ApiError, Body, Page, by_id, created, created_id, execute, expected_revision, find, views,
};

pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/admin/v1/projects/{id}/environments",
            get(list).post(create),
        )
        .route("/admin/v1/environments", get(by_key))
        .route(
            "/admin/v1/environments/{id}",
            get(read).patch(update).delete(remove),
        )
        .route("/admin/v1/environments/{id}/feature-states", get(states))
        .route(
            "/admin/v1/environments/{id}/features/{feature_id}/state",
            patch(set_state),
        )
        .route("/admin/v1/environments/{id}/document", get(document))
        .route(
            "/admin/v1/environments/{id}/compare/{other_id}",
            get(super::compare::handler),
        )
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SettingsBody {
    #[serde(default, deserialize_with = "super::body::given")]
    hide_disabled_flags: Option<Option<bool>>,
    #[serde(default, deserialize_with = "super::body::given")]
    hide_sensitive_data: Option<bool>,
    #[serde(default, deserialize_with = "super::body::given")]
    allow_client_traits: Option<bool>,
    #[serde(default, deserialize_with = "super::body::given")]
    use_identity_composite_key_for_hashing: Option<bool>,
    #[serde(default, deserialize_with = "super::body::given")]
    use_identity_overrides_in_local_eval: Option<bool>,
}

impl SettingsBody {
    fn patch(self) -> SettingsPatch {
        SettingsPatch {
            hide_disabled_flags: self.hide_disabled_flags,
            hide_sensitive_data: self.hide_sensitive_data,
            allow_client_traits: self.allow_client_traits,
            use_identity_composite_key_for_hashing: self.use_identity_composite_key_for_hashing,
            use_identity_overrides_in_local_eval: self.use_identity_overrides_in_local_eval,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewEnvironment {
    name: String,
    #[serde(default)]
    settings: SettingsBody,
    /// Copy this environment of the project (its settings, feature states and segment
    /// overrides); `settings` then change the copy's.
    #[serde(default)]
    clone_from: Option<u32>,
    /// With `clone_from`: copy the source's identity overrides too, in bounded batches
    /// after the copy (needs VIEW_IDENTITIES on the source, MANAGE_IDENTITIES on the
    /// project).
    #[serde(default)]
    identity_overrides: bool,
}

/// Identity overrides copied per command when a clone takes them along.
const COPY_BATCH: u32 = 1000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnvironmentChanges {
    #[serde(default, deserialize_with = "super::body::given")]
    name: Option<String>,
    #[serde(default)]
    settings: SettingsBody,
}

/// A new random client key (22 base-62 characters, like Flagsmith's).
pub fn new_client_key() -> Result<String, ApiError> {
    random_text(22)
}

/// Random text for keys, as an API error when the system has no randomness.
/// A new prefixed secret (see [`crate::secrets::prefixed_secret`]).
pub fn new_secret(prefix: &str) -> Result<String, ApiError> {
    crate::secrets::prefixed_secret(prefix)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

pub fn random_text(len: usize) -> Result<String, ApiError> {
    crate::secrets::random_text(len)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.projects, "project", project_id)?;
    Ok(Json(
        page.of(catalog
            .project_environments(project_id)
            .filter(|e| {
                caller.can(
                    &catalog,
                    Permission::ViewEnvironment,
                    Target::Environment(e.id),
                )
            })
            .map(|e| (by_id(e.id), views::environment(e))))?,
    ))
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Path(project_id): Path<u32>,
    Body(body): Body<NewEnvironment>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if let Some(source_id) = body.clone_from {
        return clone(&state, &caller, project_id, source_id, body).await;
    }
    if body.identity_overrides {
        return Err(ApiError::bad_request(
            "identity_overrides copies those of the environment in clone_from: name one",
        ));
    }
    let mut settings = EnvironmentSettingsRecord::default();
    let patch = body.settings.patch();
    if let Some(v) = patch.hide_disabled_flags {
        settings.hide_disabled_flags = v;
    }
    settings.hide_sensitive_data = patch
        .hide_sensitive_data
        .unwrap_or(settings.hide_sensitive_data);
    settings.allow_client_traits = patch
        .allow_client_traits
        .unwrap_or(settings.allow_client_traits);
    settings.use_identity_composite_key_for_hashing = patch
        .use_identity_composite_key_for_hashing
        .unwrap_or(settings.use_identity_composite_key_for_hashing);
    settings.use_identity_overrides_in_local_eval = patch
        .use_identity_overrides_in_local_eval
        .unwrap_or(settings.use_identity_overrides_in_local_eval);
    let command = Command::CreateEnvironment {
        project_id,
        name: body.name,
        client_key: new_client_key()?,
        settings,
    };
    let id = created_id(&execute(&state, &caller, command).await?)?;
    let catalog = state.store.catalog();
    let env = find(&catalog.environments, "environment", id)?;
    Ok(created(views::environment(env)))
}

/// Creates an environment as a copy of `source_id` (one atomic, audited change).
async fn clone(
    state: &AppState,
    caller: &Caller,
    project_id: u32,
    source_id: u32,
    body: NewEnvironment,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    {
        let catalog = state.store.catalog();
        let source = find(&catalog.environments, "environment", source_id)?;
        if source.project_id != project_id {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                format!(
                    "environment {source_id} belongs to project {}, not {project_id}: an \
                     environment is cloned within its project",
                    source.project_id
                ),
            ));
        }
        super::compare::require(
            caller,
            &catalog,
            crate::access::Permission::ViewEnvironment,
            source_id,
            "cloning",
        )?;
        if body.identity_overrides {
            super::compare::require(
                caller,
                &catalog,
                crate::access::Permission::ViewIdentities,
                source_id,
                "copying identity overrides",
            )?;
            let permission = crate::access::Permission::ManageIdentities;
            if !caller.can(
                &catalog,
                permission,
                crate::access::Target::Project(project_id),
            ) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "forbidden",
                    format!(
                        "copying identity overrides needs MANAGE_IDENTITIES on project {project_id}"
                    ),
                ));
            }
        }
    }
    let copy_overrides = body.identity_overrides;
    let command = Command::CloneEnvironment {
        source_id,
        name: body.name,
        client_key: new_client_key()?,
        settings: body.settings.patch(),
    };
    let id = created_id(&execute(state, caller, command).await?)?;
    let mut copied = 0u64;
    if copy_overrides {
        let step = || Command::CopyIdentityOverrides {
            source_id,
            target_id: id,
            max: COPY_BATCH,
        };
        while let crate::store::Applied::Copied { count, more } =
            execute(state, caller, step()).await?
        {
            copied += u64::from(count);
            if !more {
                break;
            }
        }
    }
    let catalog = state.store.catalog();
    let env = find(&catalog.environments, "environment", id)?;
    let mut view = views::environment(env);
    if copy_overrides {
        view["identity_overrides_copied"] = serde_json::json!(copied);
    }
    Ok(created(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Find {
    client_key: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// All environments, or the one with `?client_key=`.
async fn by_key(
    State(state): State<AppState>,
    caller: Caller,
    Query(find): Query<Find>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    let page = Page {
        limit: find.limit,
        cursor: find.cursor,
    };
    Ok(Json(
        page.of(catalog
            .environments
            .values()
            .filter(|e| find.client_key.as_ref().is_none_or(|k| *k == e.client_key))
            .filter(|e| {
                caller.can(
                    &catalog,
                    Permission::ViewEnvironment,
                    Target::Environment(e.id),
                )
            })
            .map(|e| (by_id(e.id), views::environment(e))))?,
    ))
}

async fn read(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let catalog = state.store.catalog();
    let env = find(&catalog.environments, "environment", id)?;
    let mut response = Json(views::environment(env)).into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", env.revision)) {
        response.headers_mut().insert(header::ETAG, etag);
    }
    Ok(response)
}

async fn update(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
    headers: HeaderMap,
    Body(body): Body<EnvironmentChanges>,
) -> Result<Response, ApiError> {
    let command = Command::UpdateEnvironment {
        id,
        expected_revision: expected_revision(&headers)?,
        name: body.name,
        settings: body.settings.patch(),
    };
    execute(&state, &caller, command).await?;
    read(State(state), caller, Path(id)).await
}

async fn remove(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<u32>,
) -> Result<StatusCode, ApiError> {
    execute(&state, &caller, Command::DeleteEnvironment { id }).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn states(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
    Query(page): Query<Page>,
) -> Result<Json<Value>, ApiError> {
    let catalog = state.store.catalog();
    find(&catalog.environments, "environment", id)?;
    Ok(Json(
        page.of(catalog
            .environment_states(id)
            .map(|s| (by_id(s.id), views::state(s))))?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    #[serde(default, deserialize_with = "super::body::given")]
    pub enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::body::given")]
    pub value: Option<Value>,
    #[serde(default, deserialize_with = "super::body::given")]
    pub variants: Option<Vec<super::body::Object<VariantBody>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VariantBody {
    pub option_id: u32,
    pub weight: f64,
}

impl StateBody {
    pub fn patch(self) -> Result<StatePatch, ApiError> {
        Ok(StatePatch {
            enabled: self.enabled,
            value: self.value.as_ref().map(stored_value).transpose()?,
            variants: self.variants.map(|variants| {
                variants
                    .into_iter()
                    .map(|super::body::Object(v)| VariantWeightRecord {
                        option_id: v.option_id,
                        weight: v.weight,
                    })
                    .collect()
            }),
        })
    }
}

async fn set_state(
    State(state): State<AppState>,
    caller: Caller,
    Path((id, feature_id)): Path<(u32, u32)>,
    headers: HeaderMap,
    Body(body): Body<StateBody>,
) -> Result<Json<Value>, ApiError> {
    let command = Command::SetFeatureState {
        environment_id: id,
        feature_id,
        expected_revision: expected_revision(&headers)?,
        patch: body.patch()?,
    };
    execute(&state, &caller, command).await?;
    let catalog = state.store.catalog();
    let record = catalog
        .environment_states(id)
        .find(|s| s.feature_id == feature_id && s.target == StateTarget::Environment)
        .ok_or_else(|| ApiError::not_found("feature state of feature", feature_id))?;
    Ok(Json(views::state(record)))
}

/// The environment document, exactly as `/api/v1/environment-document/` serves it.
async fn document(
    State(state): State<AppState>,
    _caller: Caller,
    Path(id): Path<u32>,
) -> Result<Response, ApiError> {
    let snapshot = state
        .snapshots
        .environment(id)
        .ok_or_else(|| ApiError::not_found("environment", id))?;
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        snapshot.document.body.clone(),
    )
        .into_response())
}
