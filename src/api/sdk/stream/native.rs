//! `GET /api/v1/flags/stream`: Burgee's own real-time stream of an environment's flags,
//! as `/api/v1/flags/` shows them to the same key (a client key never sees what is hidden
//! from client keys). Every event carries the environment's revision as its `id` (the
//! revision `If-Match` checks: the same on every node and replica), so a client that
//! reconnects with `Last-Event-ID` — browsers' `EventSource` does so by itself — gets exactly
//! what changed since, or, when that revision is no longer remembered, a `refetch` event
//! with the complete set.
//!
//! Events: `flags` (`complete: true` on subscribe, then the changed flags and the names of
//! removed ones), `refetch` (a complete set, after an unknown `Last-Event-ID`) and, for a
//! server-side key that asks with `?document=true`, `document` (the environment document
//! for local evaluation, after every change).

use std::sync::Arc;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{Feed, Start, respond, subscribe};
use crate::api::AppState;
use crate::api::sdk::SdkError;
use crate::api::sdk::query::StrictQuery;
use crate::cache::{EnvironmentSnapshot, KeyKind};

struct Flags {
    kind: KeyKind,
    document: bool,
    last: Arc<EnvironmentSnapshot>,
}

fn bodies(snapshot: &EnvironmentSnapshot, kind: KeyKind) -> &bytes::Bytes {
    match kind {
        KeyKind::Client => &snapshot.flags_for_client_keys.body,
        KeyKind::Server => &snapshot.flags_for_server_keys.body,
    }
}

fn flag<'s>(snapshot: &'s EnvironmentSnapshot, kind: KeyKind, name: &str) -> Option<&'s [u8]> {
    let flag = snapshot.flag_by_name.get(name)?;
    flag.for_key(kind == KeyKind::Server).map(|r| &r.body[..])
}

/// An event's data: `flags` is a JSON array as served.
fn event(
    name: &str,
    snapshot: &EnvironmentSnapshot,
    flags: &[u8],
    removed: &[&str],
    complete: bool,
) -> Event {
    let mut data = format!(
        "{{\"revision\":{},\"updated_at_ms\":{},\"complete\":{complete},\"removed\":{},\"flags\":",
        snapshot.revision,
        json!(snapshot.updated_at_ms),
        json!(removed),
    );
    data.push_str(&String::from_utf8_lossy(flags));
    data.push('}');
    Event::default()
        .event(name)
        .id(snapshot.revision.to_string())
        .data(data)
}

fn document(snapshot: &EnvironmentSnapshot) -> Event {
    Event::default()
        .event("document")
        .id(snapshot.revision.to_string())
        .data(String::from_utf8_lossy(&snapshot.document.body))
}

impl Flags {
    /// The complete set as event `name` (and the document when asked for).
    fn complete(&self, name: &str, snapshot: &EnvironmentSnapshot) -> Vec<Event> {
        let mut events = vec![event(
            name,
            snapshot,
            bodies(snapshot, self.kind),
            &[],
            true,
        )];
        if self.document {
            events.push(document(snapshot));
        }
        events
    }

    /// What changed from `old` to `new` for this key (nothing when nothing it sees did).
    fn difference(&self, old: &EnvironmentSnapshot, new: &EnvironmentSnapshot) -> Vec<Event> {
        let mut names: Vec<&String> = new.flag_by_name.keys().collect();
        names.sort();
        let mut changed = Vec::new();
        for name in names {
            if let Some(body) = flag(new, self.kind, name)
                && flag(old, self.kind, name) != Some(body)
            {
                changed.push(body);
            }
        }
        let mut removed: Vec<&str> = old
            .flag_by_name
            .keys()
            .filter(|name| {
                flag(old, self.kind, name).is_some() && flag(new, self.kind, name).is_none()
            })
            .map(String::as_str)
            .collect();
        removed.sort_unstable();
        let mut events = Vec::new();
        if !changed.is_empty() || !removed.is_empty() {
            let flags = [b"[".as_slice(), &changed.join(b",".as_slice()), b"]"].concat();
            events.push(event("flags", new, &flags, &removed, false));
        }
        if self.document && old.document.body != new.document.body {
            events.push(document(new));
        }
        events
    }
}

impl Feed for Flags {
    fn changed(&mut self, snapshot: &Arc<EnvironmentSnapshot>) -> Vec<Event> {
        let events = self.difference(&self.last, snapshot);
        self.last = Arc::clone(snapshot);
        events
    }
}

/// The key: `X-Environment-Key`, or `?environment_key=` for a client key (browsers'
/// `EventSource` cannot set headers; a server-side key must not travel in a URL).
fn key(headers: &HeaderMap, query: &StrictQuery) -> Result<String, SdkError> {
    if let Some(key) = headers
        .get("x-environment-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty())
    {
        return Ok(key.to_owned());
    }
    match query.0.get("environment_key") {
        Some(key) if key.starts_with("ser.") => Err(SdkError::Invalid(json!({
            "detail": "A server-side key does not belong in a URL: send it as X-Environment-Key.",
            "code": "server_key_in_url",
        }))),
        Some(key) if !key.is_empty() => Ok(key.clone()),
        _ => Err(SdkError::MissingKey),
    }
}

pub async fn stream(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: StrictQuery,
) -> Result<Response, SdkError> {
    let key = key(&headers, &query)?;
    let (snapshot, kind) = state.snapshots.by_key(&key).ok_or(SdkError::UnknownKey)?;
    if snapshot.stop_serving_flags {
        return Err(SdkError::FlagsDisabled);
    }
    let document = match query.0.get("document").map(String::as_str) {
        None | Some("false") => false,
        Some("true") if kind == KeyKind::Server => true,
        Some("true") => {
            return Err(SdkError::Invalid(json!({
                "document": ["The environment document needs a server-side key."],
            })));
        }
        Some(_) => {
            return Err(SdkError::Invalid(
                json!({"document": ["Must be true or false."]}),
            ));
        }
    };
    let environment_id = snapshot.environment_id;
    let (subscription, snapshot) = subscribe(&state.snapshots, environment_id)?;
    let feed = Flags {
        kind,
        document,
        last: Arc::clone(&snapshot),
    };
    let resumed = headers.get("last-event-id").map(|v| {
        v.to_str()
            .ok()
            .and_then(|text| text.trim().parse::<u64>().ok())
    });
    let first = match resumed {
        None => feed.complete("flags", &snapshot),
        Some(Some(revision)) if revision == snapshot.revision => Vec::new(),
        Some(revision) => match revision.and_then(|revision| {
            state
                .snapshots
                .changes
                .at_revision(environment_id, revision)
        }) {
            Some(seen) if seen.revision < snapshot.revision => feed.difference(&seen, &snapshot),
            // Forgotten, unknown or from the future: the complete set replaces the client's.
            _ => feed.complete("refetch", &snapshot),
        },
    };
    let start = Start {
        stream: "native",
        key,
        environment_id,
        subscription,
        first,
        feed,
    };
    Ok(respond(
        Arc::clone(&state.snapshots),
        state.settings.sse_ping_interval,
        start,
    )
    .into_response())
}
