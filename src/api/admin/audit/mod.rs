//! `/admin/v1/audit`: the audit log, filtered and paged; its verification; and exports of
//! any range as JSON Lines or CSV, streamed page by page (never held whole in memory).

pub(super) mod view;

use axum::body::Body as HttpBody;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;
use crate::access::{Permission, Target};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::audit::{AuditRecord, hex};
use crate::store::{Catalog, Store};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/v1/audit", get(list))
        .route("/admin/v1/audit/verify", get(verify))
        .route("/admin/v1/audit/export", get(export))
}

/// Filters shared by the list and the export.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// RFC 3339 time or milliseconds since the epoch; inclusive.
    #[serde(default)]
    since: Option<String>,
    /// Exclusive.
    #[serde(default)]
    until: Option<String>,
    /// An actor's name (e-mail, token name) or `kind:id` (`user:3`, `token:1`).
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    project_id: Option<u32>,
    #[serde(default)]
    environment_id: Option<u32>,
    /// An action (`feature.created`) or a prefix ending in `.` (`feature.`).
    #[serde(default)]
    action: Option<String>,
    /// Text the target contains.
    #[serde(default)]
    target: Option<String>,
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    cursor: Option<String>,
    /// Exports: `jsonl` (default) or `csv`.
    #[serde(default)]
    format: Option<String>,
}

fn time(text: &str) -> Result<i64, ApiError> {
    if text.len() > 64 {
        return Err(ApiError::bad_request("a time is at most 64 characters"));
    }
    if let Ok(ms) = text.parse::<i64>() {
        return Ok(ms);
    }
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .map(|t| i64::try_from(t.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX))
        .map_err(|_| {
            ApiError::bad_request(format!(
                "{text:?} is not a time (RFC 3339, e.g. 2026-12-01T10:00:00Z, or milliseconds)"
            ))
        })
}

/// A filter, checked, as a predicate over entries.
struct Matcher {
    since: Option<i64>,
    until: Option<i64>,
    filter: Filter,
}

impl Matcher {
    fn new(filter: &Filter) -> Result<Self, ApiError> {
        Ok(Self {
            since: filter.since.as_deref().map(time).transpose()?,
            until: filter.until.as_deref().map(time).transpose()?,
            filter: filter.clone(),
        })
    }

    fn matches(&self, e: &AuditRecord) -> bool {
        let f = &self.filter;
        self.since.is_none_or(|s| e.at >= s)
            && self.until.is_none_or(|u| e.at < u)
            && f.project_id.is_none_or(|p| e.project_id == Some(p))
            && f.environment_id
                .is_none_or(|id| e.environment_id == Some(id))
            && f.action.as_deref().is_none_or(|a| {
                if a.ends_with('.') {
                    e.action.starts_with(a)
                } else {
                    e.action == a
                }
            })
            && f.target.as_deref().is_none_or(|t| e.target.contains(t))
            && f.actor.as_deref().is_none_or(|a| {
                e.actor_name.eq_ignore_ascii_case(a)
                    || format!(
                        "{}:{}",
                        e.actor_kind,
                        e.actor_id.map(|i| i.to_string()).unwrap_or_default()
                    ) == a
            })
    }
}

/// Whether the caller may see an entry: everything with the organisation's audit permission,
/// else entries of projects whose audit log they may read.
fn visible(caller: &Caller, catalog: &Catalog, e: &AuditRecord) -> bool {
    caller.can(catalog, Permission::ViewAuditLog, Target::Organisation)
        || e.project_id.is_some_and(|p| {
            caller.can(catalog, Permission::ViewProjectAuditLog, Target::Project(p))
        })
}

pub(super) async fn page(
    store: &Store,
    from: u64,
    limit: usize,
    keep: impl FnMut(&AuditRecord) -> bool + Send + 'static,
) -> Result<(Vec<AuditRecord>, Option<u64>), ApiError> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || store.audit_page(from, limit, keep))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
        .map_err(ApiError::from)
}

pub(super) fn cursor(text: Option<&str>) -> Result<u64, ApiError> {
    text.map_or(Ok(1), |c| {
        c.strip_prefix("a1.")
            .and_then(|n| u64::from_str_radix(n, 16).ok())
            .ok_or_else(|| ApiError::bad_request("the cursor is not one this API gave"))
    })
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<Filter>,
) -> Result<Json<Value>, ApiError> {
    let limit = filter.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::bad_request("limit must be 1 to 500"));
    }
    let matcher = Matcher::new(&filter)?;
    let catalog = state.store.catalog();
    let from = cursor(filter.cursor.as_deref())?;
    let caller_copy = caller.clone();
    let (entries, next) = page(&state.store, from, limit, move |e| {
        matcher.matches(e) && visible(&caller_copy, &catalog, e)
    })
    .await?;
    Ok(Json(json!({
        "items": entries.iter().map(view::entry).collect::<Vec<_>>(),
        "next_cursor": next.map(|n| format!("a1.{n:x}")),
    })))
}

async fn verify(State(state): State<AppState>, _caller: Caller) -> Result<Json<Value>, ApiError> {
    let store = state.store.clone();
    let result = tokio::task::spawn_blocking(move || store.audit_verify())
        .await
        .map_err(|e| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string())
        })??;
    Ok(Json(
        json!({"ok": result.first_bad.is_none(), "verification": result}),
    ))
}

/// Entries per page of an export.
const EXPORT_PAGE: usize = 1000;

async fn export(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<Filter>,
) -> Result<Response, ApiError> {
    let csv = match filter.format.as_deref() {
        None | Some("jsonl") => false,
        Some("csv") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "format {other:?}: use jsonl or csv"
            )));
        }
    };
    let matcher = std::sync::Arc::new(Matcher::new(&filter)?);
    // The export ends at the head as it is now, and says so.
    let head = state.store.catalog().meta.audit.clone();
    let head_line = json!({"chain_head": {"seq": head.seq, "hash": hex(&head.hash)}});
    let store = state.store.clone();
    let _ = caller;
    let start: Option<u64> = Some(1);
    let stream = futures_util::stream::unfold((start, false), move |(from, header_sent)| {
        let store = store.clone();
        let matcher = std::sync::Arc::clone(&matcher);
        let head_line = head_line.clone();
        async move {
            if csv && !header_sent {
                return Some((
                    Ok::<_, std::io::Error>(bytes::Bytes::from_static(view::CSV_HEADER.as_bytes())),
                    (from, true),
                ));
            }
            let from = from?;
            if from > head.seq {
                let trailer = if csv {
                    format!("#chain_head,{},{}\n", head.seq, hex(&head.hash))
                } else {
                    format!("{head_line}\n")
                };
                return Some((Ok(bytes::Bytes::from(trailer)), (None, true)));
            }
            let last = head.seq;
            let keep = move |e: &AuditRecord| e.seq <= last && matcher.matches(e);
            match page(&store, from, EXPORT_PAGE, keep).await {
                Ok((entries, next)) => {
                    let mut chunk = String::new();
                    for e in &entries {
                        if csv {
                            chunk.push_str(&view::csv_row(e));
                        } else {
                            chunk.push_str(&view::entry(e).to_string());
                            chunk.push('\n');
                        }
                    }
                    Some((
                        Ok(bytes::Bytes::from(chunk)),
                        (Some(next.unwrap_or(last + 1)), true),
                    ))
                }
                Err(error) => Some((Err(std::io::Error::other(error.message)), (None, true))),
            }
        }
    });
    let mut response = HttpBody::from_stream(stream).into_response();
    let content_type = if csv {
        "text/csv; charset=utf-8"
    } else {
        "application/x-ndjson"
    };
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(value) = HeaderValue::from_str(&format!("{}:{}", head.seq, hex(&head.hash))) {
        response.headers_mut().insert("x-burgee-audit-head", value);
    }
    Ok(response)
}
