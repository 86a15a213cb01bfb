//! Health probes, Prometheus metrics, and request metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health/liveness", get(liveness))
        .route("/health/readiness", get(readiness))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(super::openapi::serve))
}

async fn liveness() -> Json<serde_json::Value> {
    Json(json!({"status": "ok"}))
}

/// Ready when the store is initialised (a single node is its own leader).
async fn readiness(State(state): State<AppState>) -> Response {
    let catalog = state.store.catalog();
    if catalog.meta.initialized {
        Json(json!({"status": "ok", "applied_index": catalog.meta.last_applied})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "starting"})),
        )
            .into_response()
    }
}

async fn metrics(State(state): State<AppState>) -> Response {
    let catalog = state.store.catalog();
    metrics::gauge!("burgee_environments").set(catalog.environments.len() as f64);
    metrics::gauge!("burgee_features").set(catalog.features.len() as f64);
    metrics::gauge!("burgee_applied_index").set(catalog.meta.last_applied as f64);
    if let Ok(count) = state.store.identity_count() {
        metrics::gauge!("burgee_identities").set(count as f64);
    }
    match &state.metrics {
        Some(handle) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; version=0.0.4",
            )],
            handle.render(),
        )
            .into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Counts requests by route and status, with latency.
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("burgee_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("burgee_http_request_duration_seconds", "route" => route, "method" => method)
        .record(started.elapsed().as_secs_f64());
    response
}
