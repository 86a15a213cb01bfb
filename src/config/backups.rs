//! Scheduled backups, for installs without an external scheduler: every `--backup-every`,
//! this node writes a backup into `--backup-dir` and keeps the newest `--backup-keep`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::parse_duration;

/// `burgee serve` backup options as given on the command line or in the environment.
#[derive(Debug, Clone, Args, Default)]
pub struct BackupArgs {
    /// Take backups on a schedule into this directory (default: none; use `burgee backup`
    /// from a scheduler instead). Put it on another volume than the data directory.
    #[arg(long, env = "BURGEE_BACKUP_DIR", value_name = "DIR")]
    pub backup_dir: Option<PathBuf>,
    /// How often (default 24h, at least 1m).
    #[arg(long, env = "BURGEE_BACKUP_EVERY", value_parser = parse_duration)]
    pub backup_every: Option<Duration>,
    /// How many of the newest backups are kept (default 7).
    #[arg(long, env = "BURGEE_BACKUP_KEEP", value_parser = clap::value_parser!(u32).range(1..))]
    pub backup_keep: Option<u32>,
    /// Encrypt them with this key file (`burgee backup keygen`).
    #[arg(long, env = "BURGEE_BACKUP_KEY_FILE", value_name = "FILE")]
    pub backup_key_file: Option<PathBuf>,
}

/// The backup settings of the TOML file.
#[derive(Debug, Clone, Default)]
pub struct FileBackups {
    pub backup_dir: Option<PathBuf>,
    pub backup_every: Option<Duration>,
    pub backup_keep: Option<u32>,
    pub backup_key_file: Option<PathBuf>,
}

/// The effective schedule, when backups are scheduled.
#[derive(Debug, Clone, Serialize)]
pub struct ScheduledBackups {
    pub dir: PathBuf,
    pub every: Duration,
    pub keep: u32,
    pub key_file: Option<PathBuf>,
}

impl ScheduledBackups {
    pub fn resolve(args: &BackupArgs, file: FileBackups) -> anyhow::Result<Option<Self>> {
        let key_file = args.backup_key_file.clone().or(file.backup_key_file);
        let Some(dir) = args.backup_dir.clone().or(file.backup_dir) else {
            if key_file.is_some() || args.backup_every.is_some() || args.backup_keep.is_some() {
                anyhow::bail!("the backup schedule options need --backup-dir");
            }
            return Ok(None);
        };
        if let Some(key) = &key_file {
            // Refused at start, not at the first backup a day later.
            crate::store::sealed::BackupKey::from_file(key)?;
        }
        Ok(Some(Self {
            dir,
            every: args
                .backup_every
                .or(file.backup_every)
                .unwrap_or(Duration::from_secs(86_400))
                .max(Duration::from_secs(60)),
            keep: args.backup_keep.or(file.backup_keep).unwrap_or(7).max(1),
            key_file,
        }))
    }
}
