//! Scheduled backups (`--backup-dir`): this node writes a backup of its store every
//! `--backup-every` (the first one as soon as the newest in the directory is that old), each
//! to a `.partial` file that is synced and renamed only once whole, and keeps the newest
//! `--backup-keep`. Each is recorded in the audit log.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use crate::config::ScheduledBackups;
use crate::store::Store;
use crate::store::backup::{self, Header, Summary};
use crate::store::command::{Actor, Command, Envelope, SecurityEvent};
use crate::store::sealed::{BackupKey, Sealing};

const PREFIX: &str = "burgee-";
const SUFFIX: &str = ".backup";

/// Runs for as long as the server does.
pub async fn run(store: Store, schedule: ScheduledBackups) {
    loop {
        let wait = until_next(&schedule);
        tokio::time::sleep(wait).await;
        match take(&store, &schedule).await {
            Ok((path, summary)) => tracing::info!(
                file = %path.display(),
                rows = summary.rows,
                bytes = summary.bytes,
                sha256 = %summary.sha256,
                "scheduled backup taken"
            ),
            Err(error) => {
                metrics::counter!("burgee_backup_failures_total").increment(1);
                tracing::error!(%error, dir = %schedule.dir.display(), "scheduled backup failed");
                // Try again soon rather than a whole period later.
                tokio::time::sleep(Duration::from_secs(60).min(schedule.every)).await;
            }
        }
    }
}

/// How long until a backup is due: none yet, or the newest is `every` old, means now.
fn until_next(schedule: &ScheduledBackups) -> Duration {
    let newest = backups(&schedule.dir)
        .last()
        .and_then(|p| std::fs::metadata(p).ok())
        .and_then(|m| m.modified().ok());
    let Some(newest) = newest else {
        return Duration::ZERO;
    };
    let age = SystemTime::now()
        .duration_since(newest)
        .unwrap_or(Duration::ZERO);
    schedule.every.saturating_sub(age)
}

/// The directory's backups, oldest first (their names sort by time).
fn backups(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(SUFFIX))
        })
        .collect();
    found.sort();
    found
}

async fn take(store: &Store, schedule: &ScheduledBackups) -> anyhow::Result<(PathBuf, Summary)> {
    let Some(embedded) = store.embedded() else {
        anyhow::bail!("a server on PostgreSQL is backed up with PostgreSQL's own tools");
    };
    let db = embedded.database()?;
    let header = Header::now(embedded, store.catalog().meta.last_applied);
    let event = Envelope::now(
        Actor::System,
        "scheduled-backup",
        Command::RecordEvent(SecurityEvent::BackupTaken {
            node_id: header.node_id,
            applied_index: header.applied_index,
        }),
    );
    store.execute(event).await??;
    let schedule = schedule.clone();
    tokio::task::spawn_blocking(move || {
        let key = schedule
            .key_file
            .as_deref()
            .map(BackupKey::from_file)
            .transpose()?;
        std::fs::create_dir_all(&schedule.dir)?;
        // Zero-padded milliseconds: names sort by time.
        let name = format!(
            "{PREFIX}{:015}-node{}{SUFFIX}",
            header.created_at_ms, header.node_id
        );
        let path = schedule.dir.join(&name);
        let partial = schedule.dir.join(format!("{name}.partial"));
        let written = write_file(&db, &header, &partial, key.as_ref());
        let summary = match written {
            Ok(summary) => summary,
            Err(error) => {
                let _ = std::fs::remove_file(&partial);
                return Err(error);
            }
        };
        std::fs::rename(&partial, &path)?;
        std::fs::File::open(&schedule.dir)?.sync_all()?;
        prune(&schedule.dir, schedule.keep as usize);
        Ok((path, summary))
    })
    .await?
}

fn write_file(
    db: &redb::Database,
    header: &Header,
    path: &Path,
    key: Option<&BackupKey>,
) -> anyhow::Result<Summary> {
    let mut file = crate::secrets::create_private(path)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 20, &mut file);
    let summary = match key {
        Some(key) => {
            let mut sealing = Sealing::new(&mut out, key)?;
            let summary = backup::write(db, header, &mut sealing)?;
            sealing.finish()?;
            summary
        }
        None => backup::write(db, header, &mut out)?,
    };
    out.flush()?;
    drop(out);
    file.sync_all()?;
    Ok(summary)
}

/// Removes all but the newest `keep` backups.
fn prune(dir: &Path, keep: usize) {
    let all = backups(dir);
    let excess = all.len().saturating_sub(keep);
    for old in &all[..excess] {
        if let Err(error) = std::fs::remove_file(old) {
            tracing::warn!(%error, file = %old.display(), "could not remove an old backup");
        }
    }
}
