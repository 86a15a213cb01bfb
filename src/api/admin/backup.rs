//! `GET /admin/v1/backup`: an online backup of the whole store (every organisation, project,
//! identity, trait, credential hash and audit entry), streamed as it is read from one read
//! transaction: consistent, and never held whole in memory. `TAKE_BACKUPS` only (admins);
//! each backup is recorded in the audit log before it starts.

use std::io::Write;

use axum::Router;
use axum::body::Body as HttpBody;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use tokio::sync::mpsc;

use super::{ApiError, execute};
use crate::api::AppState;
use crate::api::auth::Caller;
use crate::store::backup::{self, Header};
use crate::store::command::{Command, SecurityEvent};

/// Bytes handed to the connection at a time; a few chunks in flight bound the memory a
/// backup takes, whatever the store's size and the client's speed.
const CHUNK: usize = 256 * 1024;
const CHUNKS_IN_FLIGHT: usize = 4;

pub fn router() -> Router<AppState> {
    Router::new().route("/admin/v1/backup", get(take))
}

async fn take(State(state): State<AppState>, caller: Caller) -> Result<Response, ApiError> {
    let Some(embedded) = state.store.embedded() else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup_unsupported",
            "this server keeps its state in PostgreSQL: back it up with PostgreSQL's own tools \
             (pg_dump, or your provider's snapshots)",
        ));
    };
    let db = embedded.database()?;
    let header = Header::now(embedded, state.store.catalog().meta.last_applied);
    execute(
        &state,
        &caller,
        Command::RecordEvent(SecurityEvent::BackupTaken {
            node_id: header.node_id,
            applied_index: header.applied_index,
        }),
    )
    .await?;

    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
    let filename = format!("burgee-{}.backup", header.created_at_ms / 1000);
    tokio::task::spawn_blocking(move || {
        let mut out = ChannelWriter {
            sender: sender.clone(),
            buffer: Vec::with_capacity(CHUNK),
        };
        let written = backup::write(&db, &header, &mut out);
        match written {
            Ok(summary) => tracing::info!(
                rows = summary.rows,
                bytes = summary.bytes,
                sha256 = %summary.sha256,
                "backup taken"
            ),
            Err(error) => {
                tracing::warn!(%error, "backup failed; the client gets a truncated stream");
                let _ = sender.blocking_send(Err(std::io::Error::other(error.to_string())));
            }
        }
    });
    let stream = futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    });
    let mut response = HttpBody::from_stream(stream).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/vnd.burgee.backup"),
    );
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

/// Hands the backup to the response body in chunks; fails once the client has gone, which
/// ends the read transaction.
struct ChannelWriter {
    sender: mpsc::Sender<Result<Bytes, std::io::Error>>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client left"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(data);
        if self.buffer.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}
