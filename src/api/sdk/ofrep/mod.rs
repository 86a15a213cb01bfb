//! OpenFeature's remote evaluation protocol (OFREP): `POST /ofrep/v1/evaluate/flags/{key}`
//! and the bulk `POST /ofrep/v1/evaluate/flags`. The context's `targetingKey` is the
//! identity, its other attributes are traits for this evaluation only: an evaluation reads
//! the identity's stored traits and overrides but writes nothing.

mod context;
mod error;
mod resolve;

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::api::AppState;
use crate::cache::representation::Representation;
use crate::cache::{EnvironmentSnapshot, KeyKind};
use crate::engine::Flag;
use crate::model::Identity;

use super::conditional::none_match;
use super::key::environment_of_key;
use context::Context;
use error::{Code, Failure, OfrepError};

const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// The environment key: Flagsmith's `X-Environment-Key`, or one of the two schemes OFREP
/// names, `X-API-Key` and `Authorization: Bearer` (in that order when several are sent: the
/// most specific first, since `Authorization` may carry another credential).
fn environment(
    state: &AppState,
    headers: &HeaderMap,
) -> Result<(Arc<EnvironmentSnapshot>, KeyKind), Failure> {
    let text = |name: header::HeaderName| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
    };
    let key = text(header::HeaderName::from_static("x-environment-key"))
        .or_else(|| text(header::HeaderName::from_static("x-api-key")))
        .or_else(|| {
            text(header::AUTHORIZATION).and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
                    .map(str::trim)
            })
        })
        .ok_or(Failure::Unauthorized)?;
    Ok(environment_of_key(&state.snapshots, key, false)?)
}

/// The identity to evaluate: stored traits with the context's on top, or `None` for
/// environment defaults.
async fn identity(
    state: &AppState,
    snapshot: &EnvironmentSnapshot,
    kind: KeyKind,
    mut context: Context,
) -> Result<Option<Identity>, Failure> {
    let Some(identifier) = context.identifier.take() else {
        return Ok(None);
    };
    if kind == KeyKind::Client && !snapshot.allow_client_traits {
        // As on /identities/: the environment does not let client keys set traits.
        context.traits.clear();
    }
    let stored = state
        .store
        .identity(snapshot.environment_id, &identifier)
        .await?;
    let stored = stored
        .map(|(_, traits)| super::identities::stored_traits(&traits))
        .unwrap_or_default();
    Ok(Some(Identity {
        identifier,
        key: None,
        traits: context.traits_over(stored),
    }))
}

/// Evaluates and hands the flags this key may see to `answer`, with a way to count the
/// ones it returns.
async fn evaluate<T>(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
    answer: impl FnOnce(Served<'_, '_>) -> Result<T, Failure>,
) -> Result<T, Failure> {
    let (snapshot, kind) = environment(state, headers)?;
    let context = context::parse(body, state.settings.max_traits_per_identity)?;
    let identity = identity(state, &snapshot, kind, context).await?;
    let evaluation = snapshot
        .compiled
        .evaluate(identity.as_ref())
        .map_err(|e| match e.code() {
            "integer_overflow" => {
                Failure::from(OfrepError::new(Code::InvalidContext, e.to_string()))
            }
            _ => Failure::Internal(e.to_string()),
        })?;
    super::count_evaluation(super::Evaluation::Ofrep);
    let server = kind == KeyKind::Server;
    let flags = evaluation
        .flags
        .iter()
        .enumerate()
        .filter(|(index, flag)| snapshot.serves(*index, flag.enabled, server))
        .collect();
    answer(Served {
        flags,
        snapshot: &snapshot,
    })
}

/// The flags a key may see, by compiled feature index.
struct Served<'s, 'f> {
    flags: Vec<(usize, &'f Flag<'f>)>,
    snapshot: &'s crate::cache::EnvironmentSnapshot,
}

impl Served<'_, '_> {
    /// Counts the flags at `indices` as evaluated.
    fn count(&self, indices: impl ExactSizeIterator<Item = usize>) {
        self.snapshot.evaluations.served(indices);
    }
}

fn json(status: StatusCode, body: Vec<u8>) -> Response {
    let mut response = (status, body).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, JSON);
    response
}

pub async fn evaluate_flag(
    State(state): State<AppState>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let result = evaluate(&state, &headers, &body, |served| {
        let (index, flag) = served
            .flags
            .iter()
            .copied()
            .find(|(_, f)| f.feature.name == key)
            .ok_or_else(|| {
                OfrepError::new(
                    Code::FlagNotFound,
                    format!("No flag `{key}` in this environment."),
                )
            })?;
        served.count(std::iter::once(index));
        serde_json::to_vec(&resolve::resolution(flag)).map_err(|e| Failure::Internal(e.to_string()))
    })
    .await;
    match result {
        Ok(body) => json(StatusCode::OK, body),
        Err(failure) => failure.respond(Some(&key)),
    }
}

#[derive(Serialize)]
struct Bulk<'a> {
    flags: Vec<resolve::Resolution<'a>>,
}

pub async fn evaluate_flags(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: bytes::Bytes,
) -> Response {
    let result = evaluate(&state, &headers, &body, |served| {
        served.count(served.flags.iter().map(|(index, _)| *index));
        let bulk = Bulk {
            flags: served
                .flags
                .iter()
                .map(|(_, flag)| resolve::resolution(flag))
                .collect(),
        };
        serde_json::to_vec(&bulk).map_err(|e| Failure::Internal(e.to_string()))
    })
    .await;
    let body = match result {
        Ok(body) => Representation::new(bytes::Bytes::from(body)),
        Err(failure) => return failure.respond(None),
    };
    let mut response = if none_match(&headers, &body) == Some(true) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        json(StatusCode::OK, body.body.to_vec())
    };
    response
        .headers_mut()
        .insert(header::ETAG, body.etag_for(None).clone());
    response
}
