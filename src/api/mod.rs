//! HTTP: the Flagsmith-compatible SDK API, the admin API, health and metrics.

pub mod admin;
pub mod auth;
pub mod openapi;
mod ops;
mod request_id;
pub mod sdk;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderName, Request};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::cache::Snapshots;
use crate::config::Settings;
use crate::store::Store;

/// Shared state of every handler: one pointer, so handing it to each request is one
/// reference-count increment rather than one per field.
pub type AppState = Arc<Shared>;

/// What every handler shares.
pub struct Shared {
    pub store: Store,
    pub snapshots: Arc<Snapshots>,
    pub settings: Arc<Settings>,
    pub metrics: Option<metrics_exporter_prometheus::PrometheusHandle>,
    pub usage: Arc<auth::usage::Usage>,
    pub limiter: Arc<auth::limiter::Limiter>,
}

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole HTTP surface.
pub fn router(state: AppState) -> Router {
    let routes = Router::new()
        .merge(sdk::router(&state))
        .merge(admin::router(&state))
        .merge(ops::router());
    layered(routes, state)
}

/// Probes, metrics and the OpenAPI document alone, for `--ops-listen`.
pub fn ops_router(state: AppState) -> Router {
    layered(ops::router(), state)
}

/// Request ids, logs, metrics, JSON errors, panics and timeouts, as every listener has them.
fn layered(routes: Router<AppState>, state: AppState) -> Router {
    let request_id = REQUEST_ID;
    routes
        .with_state(state)
        .layer(axum::middleware::from_fn(admin::json_errors))
        .layer(axum::middleware::from_fn(ops::record_metrics))
        .layer(
            TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
                let id = request
                    .headers()
                    .get(REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
            }),
        )
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, request_id::Sequential::new()))
        .layer(CatchPanicLayer::new())
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
}
