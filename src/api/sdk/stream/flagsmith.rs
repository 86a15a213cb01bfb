//! `GET /sse/environments/{client key}/stream`: Flagsmith's real-time protocol, which its
//! SDKs' real-time modes consume (`realtime_api_url` pointed at Burgee). Each event is
//! `event: environment_updated` with `data: {"updated_at": <Unix seconds, float>}`: the
//! current value on subscribe, then one per change of what the environment serves; an SDK
//! refetches the environment document when the time is newer than its copy's.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Feed, Start, respond, subscribe};
use crate::api::AppState;
use crate::api::sdk::SdkError;
use crate::api::sdk::key::environment_of_key;
use crate::cache::EnvironmentSnapshot;

struct UpdatedAt {
    /// The time last sent, in milliseconds.
    sent: i64,
}

/// The event for `snapshot`: seconds with a fraction (Python's SDK reads them with
/// `datetime.fromtimestamp`; milliseconds would overflow it).
fn updated(snapshot: &EnvironmentSnapshot) -> Event {
    let seconds = snapshot.updated_at_header.to_str().unwrap_or("0");
    let seconds = if seconds.contains('.') {
        seconds.to_owned()
    } else {
        format!("{seconds}.0")
    };
    Event::default()
        .event("environment_updated")
        .data(format!("{{\"updated_at\": {seconds}}}"))
}

impl Feed for UpdatedAt {
    fn changed(&mut self, snapshot: &Arc<EnvironmentSnapshot>) -> Vec<Event> {
        if snapshot.updated_at_ms == self.sent {
            return Vec::new();
        }
        self.sent = snapshot.updated_at_ms;
        vec![updated(snapshot)]
    }
}

pub async fn stream(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> Result<Response, SdkError> {
    if key.starts_with("ser.") {
        // URLs end up in access logs; the stream needs no secret.
        return Err(SdkError::Invalid(json!({
            "detail": "A server-side key does not belong in a URL: stream with the environment's client key.",
            "code": "server_key_in_url",
        })));
    }
    let (snapshot, _) = environment_of_key(&state.snapshots, &key, false)?;
    let environment_id = snapshot.environment_id;
    let (subscription, snapshot) = subscribe(&state.snapshots, environment_id)?;
    let start = Start {
        stream: "flagsmith",
        key,
        environment_id,
        subscription,
        first: vec![updated(&snapshot)],
        feed: UpdatedAt {
            sent: snapshot.updated_at_ms,
        },
    };
    Ok(respond(
        Arc::clone(&state.snapshots),
        state.settings.sse_ping_interval,
        start,
    )
    .into_response())
}
