//! Where the state lives: the embedded store (redb in the data directory, the default) or a
//! PostgreSQL database shared by any number of replicas.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

/// Which store keeps the state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// redb files in the data directory, replicated by Raft in a cluster.
    #[default]
    Embedded,
    /// PostgreSQL tables (`--postgres-url`); no Raft.
    Postgres,
}

/// What replicas share change notifications through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CacheKind {
    /// Redis pub/sub (`--redis-url`); without it, PostgreSQL's LISTEN/NOTIFY.
    Redis,
}

/// `burgee serve` storage options as given on the command line or in the environment.
#[derive(Debug, Clone, Args, Default)]
pub struct StorageArgs {
    /// Where the state lives.
    #[arg(long, env = "BURGEE_STORE", value_enum)]
    pub store: Option<StoreKind>,
    /// The PostgreSQL database (`postgres://user@host:5432/db?sslmode=require`, or a
    /// `key=value` connection string); its `search_path` option picks a schema.
    #[arg(
        long,
        env = "BURGEE_POSTGRES_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub postgres_url: Option<Secret>,
    /// The PostgreSQL password read from a file (keeps it out of the URL and the process
    /// list).
    #[arg(long, env = "BURGEE_POSTGRES_PASSWORD_FILE", value_name = "FILE")]
    pub postgres_password_file: Option<PathBuf>,
    /// A private CA (PEM) that signs the PostgreSQL server's certificate, besides the
    /// built-in public roots (with `sslmode=require`).
    #[arg(long, env = "BURGEE_POSTGRES_CA_FILE", value_name = "FILE")]
    pub postgres_ca_file: Option<PathBuf>,
    /// Share change notifications between PostgreSQL replicas through Redis.
    #[arg(long, env = "BURGEE_CACHE", value_enum)]
    pub cache: Option<CacheKind>,
    /// The Redis server (`redis://host:6379`, `rediss://` for TLS).
    #[arg(
        long,
        env = "BURGEE_REDIS_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    pub redis_url: Option<Secret>,
}

/// The settings file's storage fields.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct FileStorage {
    pub store: Option<StoreKind>,
    pub postgres_url: Option<Secret>,
    pub postgres_password_file: Option<PathBuf>,
    pub postgres_ca_file: Option<PathBuf>,
    pub cache: Option<CacheKind>,
    pub redis_url: Option<Secret>,
}

/// The effective storage settings.
#[derive(Debug, Clone, Serialize)]
pub enum StorageSettings {
    Embedded,
    Postgres(PostgresSettings),
}

/// Where a PostgreSQL store is and how to reach it.
#[derive(Debug, Clone, Serialize)]
pub struct PostgresSettings {
    /// Redacted in `Debug` and serialised output.
    pub url: Secret,
    pub password: Option<Secret>,
    pub ca_file: Option<PathBuf>,
    /// Redis for change notifications (`None`: PostgreSQL's LISTEN/NOTIFY).
    pub redis: Option<Secret>,
}

impl StorageSettings {
    pub fn resolve(args: &StorageArgs, file: FileStorage) -> anyhow::Result<Self> {
        let kind = args.store.or(file.store).unwrap_or_default();
        let url = args.postgres_url.clone().or(file.postgres_url);
        let password_file = args
            .postgres_password_file
            .clone()
            .or(file.postgres_password_file);
        let cache = args.cache.or(file.cache);
        let redis_url = args.redis_url.clone().or(file.redis_url);
        let redis = match (cache, redis_url) {
            (Some(CacheKind::Redis), Some(url)) => Some(url),
            (Some(CacheKind::Redis), None) => {
                anyhow::bail!("--cache redis needs --redis-url (or BURGEE_REDIS_URL)")
            }
            (None, Some(_)) => anyhow::bail!("--redis-url needs --cache redis"),
            (None, None) => None,
        };
        match kind {
            StoreKind::Embedded => {
                if url.is_some() || password_file.is_some() {
                    anyhow::bail!(
                        "--postgres-url and --postgres-password-file need --store postgres"
                    );
                }
                if redis.is_some() {
                    anyhow::bail!(
                        "--cache redis shares notifications between PostgreSQL replicas: it \
                         needs --store postgres (an embedded cluster replicates through Raft)"
                    );
                }
                Ok(Self::Embedded)
            }
            StoreKind::Postgres => {
                let Some(url) = url else {
                    anyhow::bail!("--store postgres needs --postgres-url (or BURGEE_POSTGRES_URL)");
                };
                let password = password_file
                    .map(|path| {
                        Secret::from_file(&path).map_err(|e| {
                            anyhow::anyhow!(
                                "reading the PostgreSQL password from {}: {e}",
                                path.display()
                            )
                        })
                    })
                    .transpose()?;
                Ok(Self::Postgres(PostgresSettings {
                    url,
                    password,
                    ca_file: args.postgres_ca_file.clone().or(file.postgres_ca_file),
                    redis,
                }))
            }
        }
    }
}
