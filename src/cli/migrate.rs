//! `burgee migrate --from A --to B`: moves a whole installation between the embedded store
//! (a data directory) and PostgreSQL (a `postgres://` URL), either way. The server must not
//! run on the source data directory; the target must be empty.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::secrets::Secret;

#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Where the installation is: a data directory, or a `postgres://` URL.
    #[arg(long, value_name = "DIR_OR_URL")]
    pub from: String,
    /// Where it goes: a new data directory, or an empty PostgreSQL schema.
    #[arg(long, value_name = "DIR_OR_URL")]
    pub to: String,
    /// The PostgreSQL password read from a file (keeps it out of the URL).
    #[arg(long, env = "BURGEE_POSTGRES_PASSWORD_FILE", value_name = "FILE")]
    pub postgres_password_file: Option<PathBuf>,
    /// A private CA (PEM) for the PostgreSQL server's certificate (with `sslmode=require`).
    #[arg(long, env = "BURGEE_POSTGRES_CA_FILE", value_name = "FILE")]
    pub postgres_ca_file: Option<PathBuf>,
}

fn is_postgres(place: &str) -> bool {
    place.starts_with("postgres://") || place.starts_with("postgresql://")
}

#[cfg(feature = "postgres")]
pub fn run(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    use crate::store::postgres::{Connector, transfer};
    let password = args
        .postgres_password_file
        .as_deref()
        .map(Secret::from_file)
        .transpose()?;
    let connector = |url: &str| {
        Connector::new(
            url,
            password.as_ref().map(Secret::expose),
            args.postgres_ca_file.as_deref(),
        )
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let moved = match (is_postgres(&args.from), is_postgres(&args.to)) {
        (false, true) => {
            let connector = connector(&args.to)?;
            runtime.block_on(transfer::to_postgres(
                &PathBuf::from(&args.from),
                &connector,
            ))?
        }
        (true, false) => {
            let connector = connector(&args.from)?;
            runtime.block_on(transfer::from_postgres(
                &connector,
                &PathBuf::from(&args.to),
            ))?
        }
        _ => anyhow::bail!("one side must be a data directory and the other a postgres:// URL"),
    };
    println!(
        "migrated {} records, {} identities, {} traits and {} audit entries",
        moved.records, moved.identities, moved.traits, moved.audit_entries
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(not(feature = "postgres"))]
pub fn run(args: &MigrateArgs) -> anyhow::Result<ExitCode> {
    let _ = (is_postgres(&args.from), Secret::new(""));
    anyhow::bail!("this binary was built without the PostgreSQL store (cargo feature `postgres`)")
}
