//! One typed configuration for `burgee serve`: command-line flags win over `BURGEE_*`
//! environment variables, which win over the TOML file (`--config`), which wins over defaults.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};
use serde::{Deserialize, Serialize};

use crate::secrets::{Secret, secret_or_file};

pub use analytics::{AnalyticsArgs, AnalyticsSettings};
pub use backups::{BackupArgs, ScheduledBackups};
pub use cluster::{ClusterArgs, ClusterSettings, cluster_url};
pub use cluster_tls::ClusterTls;
pub use connections::{ConnectionArgs, ConnectionSettings};
pub use network::{Cidr, parse_cidr};
pub use storage::{PostgresSettings, StorageArgs, StorageSettings, StoreKind};
pub use text::parse_duration;

mod analytics;
mod backups;
mod cluster;
mod cluster_tls;
mod connections;
mod network;
mod storage;
mod text;

use text::{cidr_texts, duration_text};

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// `burgee serve` options as given on the command line or in the environment.
#[derive(Debug, Clone, Args, Default)]
pub struct ServeArgs {
    /// Where data lives (redb files).
    #[arg(long, env = "BURGEE_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Address for HTTP.
    #[arg(long, env = "BURGEE_LISTEN", value_name = "ADDR")]
    pub listen: Option<SocketAddr>,
    /// A TOML file with the same settings (snake_case names).
    #[arg(long, env = "BURGEE_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// On first start only: becomes an organisation-admin API token (stored hashed).
    #[arg(
        long,
        env = "BURGEE_BOOTSTRAP_TOKEN",
        value_name = "TOKEN",
        hide_env_values = true
    )]
    pub bootstrap_token: Option<Secret>,
    /// The bootstrap token read from a file (keeps it out of the process list).
    #[arg(long, env = "BURGEE_BOOTSTRAP_TOKEN_FILE", value_name = "FILE")]
    pub bootstrap_token_file: Option<PathBuf>,
    /// Log format.
    #[arg(long, env = "BURGEE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Most traits one identity may have.
    #[arg(long, env = "BURGEE_MAX_TRAITS_PER_IDENTITY")]
    pub max_traits_per_identity: Option<u32>,
    /// Largest request body for SDK and admin calls, in bytes.
    #[arg(long, env = "BURGEE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Largest request body for imports, in bytes.
    #[arg(long, env = "BURGEE_MAX_IMPORT_BYTES")]
    pub max_import_bytes: Option<usize>,
    /// How long a sign-in lasts at most (e.g. 12h).
    #[arg(long, env = "BURGEE_SESSION_LIFETIME", value_parser = parse_duration)]
    pub session_lifetime: Option<Duration>,
    /// A session unused this long ends (e.g. 1h).
    #[arg(long, env = "BURGEE_SESSION_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub session_idle_timeout: Option<Duration>,
    /// How long an invitation link works (e.g. 72h).
    #[arg(long, env = "BURGEE_INVITE_LIFETIME", value_parser = parse_duration)]
    pub invite_lifetime: Option<Duration>,
    /// Failed logins in a row (per account, and per source address) before a lockout.
    #[arg(long, env = "BURGEE_LOGIN_MAX_FAILURES")]
    pub login_max_failures: Option<u32>,
    /// How long a lockout lasts (e.g. 15m).
    #[arg(long, env = "BURGEE_LOGIN_LOCKOUT", value_parser = parse_duration)]
    pub login_lockout: Option<Duration>,
    /// Peers whose X-Forwarded-For / X-Forwarded-Proto are believed (comma-separated CIDRs).
    #[arg(long, env = "BURGEE_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_cidr)]
    pub trusted_proxies: Option<Vec<Cidr>>,
    /// Audit entries older than this are pruned (default: kept forever).
    #[arg(long, env = "BURGEE_AUDIT_RETENTION", value_parser = parse_duration)]
    pub audit_retention: Option<Duration>,
    /// How often an idle real-time stream gets a keep-alive comment (default 15s).
    #[arg(long, env = "BURGEE_SSE_PING_INTERVAL", value_parser = parse_duration)]
    pub sse_ping_interval: Option<Duration>,
    #[command(flatten)]
    pub connections: ConnectionArgs,
    #[command(flatten)]
    pub analytics: AnalyticsArgs,
    #[command(flatten)]
    pub backups: BackupArgs,
    #[command(flatten)]
    pub cluster: ClusterArgs,
    #[command(flatten)]
    pub storage: StorageArgs,
}

/// The settings file: every field optional, unknown fields refused.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    data_dir: Option<PathBuf>,
    listen: Option<SocketAddr>,
    bootstrap_token: Option<Secret>,
    bootstrap_token_file: Option<PathBuf>,
    log_format: Option<LogFormat>,
    max_traits_per_identity: Option<u32>,
    max_body_bytes: Option<usize>,
    max_import_bytes: Option<usize>,
    #[serde(default, deserialize_with = "duration_text")]
    session_lifetime: Option<Duration>,
    #[serde(default, deserialize_with = "duration_text")]
    session_idle_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration_text")]
    invite_lifetime: Option<Duration>,
    login_max_failures: Option<u32>,
    #[serde(default, deserialize_with = "duration_text")]
    login_lockout: Option<Duration>,
    #[serde(default, deserialize_with = "cidr_texts")]
    trusted_proxies: Option<Vec<Cidr>>,
    #[serde(default, deserialize_with = "duration_text")]
    audit_retention: Option<Duration>,
    #[serde(default, deserialize_with = "duration_text")]
    sse_ping_interval: Option<Duration>,
    ops_listen: Option<SocketAddr>,
    #[serde(default, deserialize_with = "duration_text")]
    header_read_timeout: Option<Duration>,
    #[serde(default, deserialize_with = "duration_text")]
    idle_timeout: Option<Duration>,
    max_connections: Option<u32>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    #[serde(default, deserialize_with = "duration_text")]
    analytics_flush_interval: Option<Duration>,
    #[serde(default, deserialize_with = "duration_text")]
    analytics_retention: Option<Duration>,
    backup_dir: Option<PathBuf>,
    #[serde(default, deserialize_with = "duration_text")]
    backup_every: Option<Duration>,
    backup_keep: Option<u32>,
    backup_key_file: Option<PathBuf>,
    cluster_listen: Option<SocketAddr>,
    cluster_secret: Option<Secret>,
    cluster_secret_file: Option<PathBuf>,
    node_id: Option<u64>,
    advertise_cluster_url: Option<String>,
    initial_cluster: Option<Vec<String>>,
    join: Option<bool>,
    snapshot_entries: Option<u64>,
    cluster_tls_cert: Option<PathBuf>,
    cluster_tls_key: Option<PathBuf>,
    cluster_ca: Option<PathBuf>,
    tls_client_ca: Option<PathBuf>,
    store: Option<StoreKind>,
    postgres_url: Option<Secret>,
    postgres_password_file: Option<PathBuf>,
    postgres_ca_file: Option<PathBuf>,
    cache: Option<storage::CacheKind>,
    redis_url: Option<Secret>,
}

/// The effective settings.
#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// Redacted in `Debug` and serialised output.
    pub bootstrap_token: Option<Secret>,
    pub log_format: LogFormat,
    pub max_traits_per_identity: u32,
    pub max_body_bytes: usize,
    pub max_import_bytes: usize,
    pub session_lifetime: Duration,
    pub session_idle_timeout: Duration,
    pub invite_lifetime: Duration,
    pub login_max_failures: u32,
    pub login_lockout: Duration,
    pub trusted_proxies: Vec<Cidr>,
    pub audit_retention: Option<Duration>,
    pub sse_ping_interval: Duration,
    pub connections: ConnectionSettings,
    pub analytics: AnalyticsSettings,
    pub backups: Option<ScheduledBackups>,
    /// `None`: a node of its own, with no cluster port.
    pub cluster: Option<ClusterSettings>,
    pub storage: StorageSettings,
}

impl Settings {
    /// Resolves flags/env over the file over defaults.
    pub fn resolve(args: &ServeArgs) -> anyhow::Result<Self> {
        let file = match &args.config {
            Some(path) => read_file(path)?,
            None => FileSettings::default(),
        };
        // Flags and the environment win over the file, a secret or its file alike.
        let bootstrap_token = match secret_or_file(
            args.bootstrap_token.as_ref(),
            args.bootstrap_token_file.as_deref(),
            "--bootstrap-token",
        )? {
            Some(secret) => Some(secret),
            None => secret_or_file(
                file.bootstrap_token.as_ref(),
                file.bootstrap_token_file.as_deref(),
                "bootstrap_token",
            )?,
        };
        let cluster = ClusterSettings::resolve(
            &args.cluster,
            cluster::FileCluster {
                cluster_listen: file.cluster_listen,
                cluster_secret: file.cluster_secret.clone(),
                cluster_secret_file: file.cluster_secret_file.clone(),
                node_id: file.node_id,
                advertise_cluster_url: file.advertise_cluster_url.clone(),
                initial_cluster: file.initial_cluster.clone(),
                join: file.join,
                snapshot_entries: file.snapshot_entries,
                tls: cluster_tls::FileClusterTls {
                    cluster_tls_cert: file.cluster_tls_cert.clone(),
                    cluster_tls_key: file.cluster_tls_key.clone(),
                    cluster_ca: file.cluster_ca.clone(),
                    tls_client_ca: file.tls_client_ca.clone(),
                },
            },
        )?;
        let storage = StorageSettings::resolve(
            &args.storage,
            storage::FileStorage {
                store: file.store,
                postgres_url: file.postgres_url.clone(),
                postgres_password_file: file.postgres_password_file.clone(),
                postgres_ca_file: file.postgres_ca_file.clone(),
                cache: file.cache,
                redis_url: file.redis_url.clone(),
            },
        )?;
        if matches!(storage, StorageSettings::Postgres(_)) && cluster.is_some() {
            anyhow::bail!(
                "--store postgres runs without Raft: the cluster options do not apply (replicas \
                 share the database instead)"
            );
        }
        let connections = ConnectionSettings::resolve(
            &args.connections,
            connections::FileConnections {
                ops_listen: file.ops_listen,
                header_read_timeout: file.header_read_timeout,
                idle_timeout: file.idle_timeout,
                max_connections: file.max_connections.filter(|m| *m > 0),
                tls_cert: file.tls_cert.clone(),
                tls_key: file.tls_key.clone(),
            },
        );
        let analytics = AnalyticsSettings::resolve(
            &args.analytics,
            analytics::FileAnalytics {
                analytics_flush_interval: file.analytics_flush_interval,
                analytics_retention: file.analytics_retention,
            },
        );
        let backups = ScheduledBackups::resolve(
            &args.backups,
            backups::FileBackups {
                backup_dir: file.backup_dir.clone(),
                backup_every: file.backup_every,
                backup_keep: file.backup_keep,
                backup_key_file: file.backup_key_file.clone(),
            },
        )?;
        Ok(Self {
            cluster,
            storage,
            connections,
            analytics,
            backups,
            data_dir: args
                .data_dir
                .clone()
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./burgee-data")),
            listen: args
                .listen
                .or(file.listen)
                .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000))),
            bootstrap_token,
            log_format: args.log_format.or(file.log_format).unwrap_or_default(),
            max_traits_per_identity: args
                .max_traits_per_identity
                .or(file.max_traits_per_identity)
                .unwrap_or(1000),
            max_body_bytes: args
                .max_body_bytes
                .or(file.max_body_bytes)
                .unwrap_or(1 << 20),
            max_import_bytes: args
                .max_import_bytes
                .or(file.max_import_bytes)
                .unwrap_or(64 << 20),
            session_lifetime: args
                .session_lifetime
                .or(file.session_lifetime)
                .unwrap_or(Duration::from_secs(12 * 3600)),
            session_idle_timeout: args
                .session_idle_timeout
                .or(file.session_idle_timeout)
                .unwrap_or(Duration::from_secs(3600)),
            invite_lifetime: args
                .invite_lifetime
                .or(file.invite_lifetime)
                .unwrap_or(Duration::from_secs(72 * 3600)),
            login_max_failures: args
                .login_max_failures
                .or(file.login_max_failures)
                .unwrap_or(5)
                .max(1),
            login_lockout: args
                .login_lockout
                .or(file.login_lockout)
                .unwrap_or(Duration::from_secs(15 * 60)),
            trusted_proxies: args
                .trusted_proxies
                .clone()
                .or(file.trusted_proxies)
                .unwrap_or_default(),
            audit_retention: args.audit_retention.or(file.audit_retention),
            sse_ping_interval: args
                .sse_ping_interval
                .or(file.sse_ping_interval)
                .unwrap_or(Duration::from_secs(15))
                .max(Duration::from_secs(1)),
        })
    }
}

fn read_file(path: &Path) -> anyhow::Result<FileSettings> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("reading settings from {}", path.display()))
}
