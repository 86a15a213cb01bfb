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
        .route("/health/cluster", get(cluster))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(super::openapi::serve))
}

/// Alive while the process can do its work: the HTTP server answers and the writer runs.
/// A storage fault is not a reason to restart the process (readiness reports it).
async fn liveness(State(state): State<AppState>) -> Response {
    if state.store.writer_alive() {
        Json(json!({"status": "ok"})).into_response()
    } else {
        let reason = state.store.unavailable().unwrap_or_default();
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "failed", "reason": reason})),
        )
            .into_response()
    }
}

/// The node's view of its Raft group: role, term, leader, members, indexes and, on the
/// leader, each follower's lag; 503 (with the same body and a reason) when it knows no
/// leader, leads without a quorum, or is far behind its log.
async fn cluster(State(state): State<AppState>) -> Response {
    let Some(node) = state.store.node() else {
        return (
            StatusCode::NOT_FOUND,
            Json(json!({"status": "not_clustered", "reason": format!("the state is kept in {}: there is no Raft cluster", state.store.location())})),
        )
            .into_response();
    };
    let status = node.status();
    let code = if crate::cluster::unhealthy(&status).is_some() {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    (
        code,
        Json(crate::cluster::status_json(&status, node.formats())),
    )
        .into_response()
}

/// Ready when the store is initialised and can take writes (a single node is its own
/// leader); otherwise 503 with the reason.
async fn readiness(State(state): State<AppState>) -> Response {
    let catalog = state.store.catalog();
    if let Some(reason) = state.store.unavailable() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason, "applied_index": catalog.meta.last_applied})),
        )
            .into_response();
    }
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
    metrics::gauge!("burgee_environments_being_deleted").set(catalog.purges.len() as f64);
    if let Some(node) = state.store.node() {
        crate::cluster::record_metrics(&node.status());
    }
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

/// Counts requests by route and status, with latency. The handles are looked up once per
/// thread and label set (a registry lookup hashes and allocates every label).
pub async fn record_metrics(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let method = method_label(request.method());
    let started = Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let route = route.as_ref().map_or("unmatched", MatchedPath::as_str);
    let (requests, duration) = handles(route, method, status);
    requests.increment(1);
    duration.record(started.elapsed().as_secs_f64());
    response
}

type Handles = (metrics::Counter, metrics::Histogram);
/// By route, then by (method, status).
type HandleCache =
    std::collections::HashMap<String, std::collections::HashMap<(&'static str, u16), Handles>>;

thread_local! {
    static HANDLES: std::cell::RefCell<HandleCache> = std::cell::RefCell::default();
}

fn handles(route: &str, method: &'static str, status: u16) -> Handles {
    HANDLES.with(|cache| {
        let mut cache = cache.borrow_mut();
        if let Some(found) = cache.get(route).and_then(|m| m.get(&(method, status))) {
            return found.clone();
        }
        let route_label = route.to_owned();
        let found = (
            metrics::counter!("burgee_http_requests_total", "route" => route_label.clone(), "method" => method, "status" => status.to_string()),
            metrics::histogram!("burgee_http_request_duration_seconds", "route" => route_label, "method" => method),
        );
        cache
            .entry(route.to_owned())
            .or_default()
            .insert((method, status), found.clone());
        found
    })
}

/// A bounded label: the standard methods by name, anything else as `other`.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => "other",
    }
}
