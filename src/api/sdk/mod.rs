//! The Flagsmith-compatible SDK API under `/api/v1/`: the paths, status codes, bodies and
//! quirks Flagsmith's SDKs rely on. Every path answers with and without a trailing slash,
//! directly (never a redirect), and only ever with 200 on success.

pub mod analytics;
mod conditional;
mod cors;
mod document;
mod flags;
mod identities;

mod key;
mod ofrep;
mod query;
mod stream;

use axum::Router;
use axum::routing::{get, post};
use tower_http::limit::RequestBodyLimitLayer;

use super::AppState;

pub use key::SdkError;

pub fn router(state: &AppState) -> Router<AppState> {
    let mut router = Router::new();
    for (path, route) in [
        ("/api/v1/flags", get(flags::environment_flags)),
        (
            "/api/v1/identities",
            get(identities::get_identity).post(identities::identify),
        ),
        (
            "/api/v1/environment-document",
            get(document::environment_document),
        ),
        ("/api/v1/analytics/flags", post(analytics::record)),
        ("/api/v2/analytics/flags", post(analytics::record_v2)),
        ("/api/v1/flags/stream", get(stream::native::stream)),
    ] {
        router = router
            .route(path, route.clone())
            .route(&format!("{path}/"), route);
    }
    router = router
        .route(
            "/sse/environments/{key}/stream",
            get(stream::flagsmith::stream),
        )
        .route("/ofrep/v1/evaluate/flags", post(ofrep::evaluate_flags))
        .route(
            "/ofrep/v1/evaluate/flags/{*key}",
            post(ofrep::evaluate_flag),
        );
    router
        .layer(axum::middleware::from_fn(cors::cors))
        .layer(RequestBodyLimitLayer::new(state.settings.max_body_bytes))
}

/// What an evaluation served: environment defaults, an identity, or an OFREP request.
#[derive(Clone, Copy)]
enum Evaluation {
    Environment,
    Identity,
    Ofrep,
}

/// Counts an evaluation in `burgee_evaluations_total`. The handles are looked up once (the
/// recorder is installed before the server serves): a lookup per request hashes the key.
fn count_evaluation(kind: Evaluation) {
    use std::sync::LazyLock;
    static ENVIRONMENT: LazyLock<metrics::Counter> =
        LazyLock::new(|| metrics::counter!("burgee_evaluations_total", "kind" => "environment"));
    static IDENTITY: LazyLock<metrics::Counter> =
        LazyLock::new(|| metrics::counter!("burgee_evaluations_total", "kind" => "identity"));
    static OFREP: LazyLock<metrics::Counter> =
        LazyLock::new(|| metrics::counter!("burgee_evaluations_total", "kind" => "ofrep"));
    match kind {
        Evaluation::Environment => ENVIRONMENT.increment(1),
        Evaluation::Identity => IDENTITY.increment(1),
        Evaluation::Ofrep => OFREP.increment(1),
    }
}
