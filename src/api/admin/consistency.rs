//! Admin reads are linearizable: before a `GET` is served, this node applies everything the
//! leader had committed when the read arrived (Raft's read index), so a read after an
//! acknowledged write through any node sees it. `Burgee-Consistency: stale` skips the wait
//! and reads this node's own state (it works without a quorum).

use axum::extract::{Request, State};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use crate::api::AppState;

/// The header that asks for this node's own state instead.
pub const CONSISTENCY_HEADER: &str = "burgee-consistency";

pub async fn linearizable_reads(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() == Method::GET
        && !stale_allowed(&request)
        && let Err(error) = state.store.linearize().await
    {
        return ApiError::from(error).into_response();
    }
    next.run(request).await
}

fn stale_allowed(request: &Request) -> bool {
    request
        .headers()
        .get(CONSISTENCY_HEADER)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"stale"))
}
