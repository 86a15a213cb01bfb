//! `burgee backup --out FILE`: an online backup from a running node (`TAKE_BACKUPS`), written
//! to `FILE.partial`, synced, checked whole, then renamed into place, so `FILE` only ever names
//! a complete backup; with `--key-file` it is encrypted on the way (ChaCha20-Poly1305).
//! `burgee backup verify FILE` checks one without restoring it; `burgee backup keygen` makes
//! a key file; `burgee restore FILE --data-dir DIR` restores one offline into a new data
//! directory.

use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::json;

use super::client::{Client, Connection, Output};
use crate::store::backup::{self, Summary};
use crate::store::sealed::{BackupKey, Sealing};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub command: Option<BackupCommand>,
    /// Where the backup goes (a new file; an existing one is replaced only once the new
    /// backup is complete and checked).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Encrypt the backup (or read an encrypted one) with this key file (64 hex characters:
    /// `burgee backup keygen`). Keep the key apart from the backups.
    #[arg(
        long,
        env = "BURGEE_BACKUP_KEY_FILE",
        value_name = "FILE",
        global = true
    )]
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum BackupCommand {
    /// Check a backup file whole (format, every row, checksum) without restoring it.
    Verify { file: PathBuf },
    /// Write a new random backup key to FILE (mode 0600; never overwrites).
    Keygen {
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// The backup file.
    pub file: PathBuf,
    /// The key file of an encrypted backup.
    #[arg(long, env = "BURGEE_BACKUP_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

fn key(file: Option<&Path>) -> anyhow::Result<Option<BackupKey>> {
    Ok(file.map(BackupKey::from_file).transpose()?)
}

pub fn run(connection: &Connection, args: &BackupArgs) -> anyhow::Result<ExitCode> {
    let key = key(args.key_file.as_deref())?;
    match (&args.command, &args.out) {
        (Some(BackupCommand::Keygen { out }), _) => {
            keygen(out)?;
            println!("wrote a new backup key to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        (Some(BackupCommand::Verify { file }), _) => {
            let summary = verify_file(file, key.as_ref())?;
            report(connection.output, "verified", file, &summary);
            Ok(ExitCode::SUCCESS)
        }
        (None, Some(out)) => {
            let summary = take(connection, out, key.as_ref())?;
            report(connection.output, "backed up to", out, &summary);
            Ok(ExitCode::SUCCESS)
        }
        (None, None) => anyhow::bail!("say where the backup goes: burgee backup --out FILE"),
    }
}

/// Restores offline: the server must not run on `--data-dir`, which must be new or empty.
pub fn restore(connection: &Connection, args: &RestoreArgs) -> anyhow::Result<ExitCode> {
    let Some(dir) = &connection.data_dir else {
        anyhow::bail!("say where to restore to: --data-dir DIR (a new, empty directory)");
    };
    let key = key(args.key_file.as_deref())?;
    let summary = backup::restore(&args.file, dir, key.as_ref())
        .with_context(|| format!("restoring {}", args.file.display()))?;
    report(connection.output, "restored", &args.file, &summary);
    if connection.output == Output::Table {
        println!(
            "start it with `burgee serve --data-dir {}`: it forms a new cluster of one (a new \
             cluster id) holding this state; grow it with `burgee cluster add`",
            dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn keygen(out: &Path) -> anyhow::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(out)
        .with_context(|| {
            format!(
                "creating {} (an existing key is never replaced)",
                out.display()
            )
        })?;
    writeln!(file, "{}", BackupKey::generate()?)?;
    file.sync_all()?;
    Ok(())
}

fn take(connection: &Connection, out: &Path, key: Option<&BackupKey>) -> anyhow::Result<Summary> {
    let client = Client::new(connection)?;
    let partial = out.with_extension(match out.extension() {
        Some(ext) => format!("{}.partial", ext.to_string_lossy()),
        None => "partial".to_owned(),
    });
    let written = (|| {
        // A backup holds credential hashes and personal data: its owner only.
        let mut file = crate::secrets::create_private(&partial)
            .with_context(|| format!("creating {}", partial.display()))?;
        let mut buffered = std::io::BufWriter::with_capacity(1 << 20, &mut file);
        match key {
            Some(key) => {
                let mut sealing = Sealing::new(&mut buffered, key)?;
                client.download("/admin/v1/backup", &mut sealing)?;
                sealing.finish()?;
            }
            None => client.download("/admin/v1/backup", &mut buffered)?,
        }
        buffered.flush()?;
        drop(buffered);
        file.sync_all()?;
        verify_file(&partial, key).context("the backup received is not whole")
    })();
    let summary = match written {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error);
        }
    };
    std::fs::rename(&partial, out)
        .with_context(|| format!("moving the backup to {}", out.display()))?;
    if let Some(parent) = out.parent().filter(|p| !p.as_os_str().is_empty()) {
        // The rename itself is durable only once its directory is.
        if let Ok(dir) = std::fs::File::open(parent) {
            let _ = dir.sync_all();
        }
    }
    Ok(summary)
}

fn verify_file(file: &Path, key: Option<&BackupKey>) -> anyhow::Result<Summary> {
    let input = std::fs::File::open(file).with_context(|| format!("opening {}", file.display()))?;
    backup::verify(&mut std::io::BufReader::with_capacity(1 << 20, input), key)
        .with_context(|| format!("{} is not a usable backup", file.display()))
}

fn report(output: Output, what: &str, file: &Path, summary: &Summary) {
    match output {
        Output::Json => println!("{}", json!(summary)),
        Output::Table => println!(
            "{what} {}: {} rows, {} bytes, sha256 {}; taken from node {} at log index {} by \
             Burgee {}",
            file.display(),
            summary.rows,
            summary.bytes,
            summary.sha256,
            summary.header.node_id,
            summary.header.applied_index,
            summary.header.burgee_version
        ),
    }
}
