//! How the HTTP listeners treat connections: how long a client may take to send its
//! headers, how long an idle keep-alive connection is kept, how many connections are open at
//! most, and an optional second listener for probes and metrics.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use super::parse_duration;

/// `burgee serve` connection options as given on the command line or in the environment.
#[derive(Debug, Clone, Args, Default)]
pub struct ConnectionArgs {
    /// A second address serving only /health/* and /metrics, so probes answer whatever the
    /// SDK port suffers (default: none; the main port serves them too in any case).
    #[arg(long, env = "BURGEE_OPS_LISTEN", value_name = "ADDR")]
    pub ops_listen: Option<SocketAddr>,
    /// A request's headers must arrive within this, from its first byte (default 10s).
    #[arg(long, env = "BURGEE_HEADER_READ_TIMEOUT", value_parser = parse_duration)]
    pub header_read_timeout: Option<Duration>,
    /// A keep-alive connection with no request for this long is closed (default 60s).
    /// Real-time streams are exempt: their pings keep them alive.
    #[arg(long, env = "BURGEE_IDLE_TIMEOUT", value_parser = parse_duration)]
    pub idle_timeout: Option<Duration>,
    /// Most open client connections; more are refused at once with 503 (default: the
    /// process's open-file limit less a tenth, kept for storage, peers and the ops port).
    #[arg(long, env = "BURGEE_MAX_CONNECTIONS", value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: Option<u32>,
    /// Serve the API over TLS with this certificate chain (PEM; read again when it changes).
    #[arg(
        long,
        env = "BURGEE_TLS_CERT",
        value_name = "FILE",
        requires = "tls_key"
    )]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(
        long,
        env = "BURGEE_TLS_KEY",
        value_name = "FILE",
        requires = "tls_cert"
    )]
    pub tls_key: Option<PathBuf>,
}

/// The connection settings of the TOML file.
#[derive(Debug, Clone, Default)]
pub struct FileConnections {
    pub ops_listen: Option<SocketAddr>,
    pub header_read_timeout: Option<Duration>,
    pub idle_timeout: Option<Duration>,
    pub max_connections: Option<u32>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
}

/// The effective connection settings.
#[derive(Debug, Clone, Serialize)]
pub struct ConnectionSettings {
    pub ops_listen: Option<SocketAddr>,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// `None`: derived from the open-file limit when the server starts.
    pub max_connections: Option<u32>,
    /// The API listener's certificate and key, when it speaks TLS.
    pub tls: Option<crate::tls::TlsFiles>,
}

impl ConnectionSettings {
    pub fn resolve(args: &ConnectionArgs, file: FileConnections) -> Self {
        let at_least_a_second = |d: Duration| d.max(Duration::from_secs(1));
        Self {
            ops_listen: args.ops_listen.or(file.ops_listen),
            header_read_timeout: at_least_a_second(
                args.header_read_timeout
                    .or(file.header_read_timeout)
                    .unwrap_or(Duration::from_secs(10)),
            ),
            idle_timeout: at_least_a_second(
                args.idle_timeout
                    .or(file.idle_timeout)
                    .unwrap_or(Duration::from_secs(60)),
            ),
            max_connections: args.max_connections.or(file.max_connections),
            tls: match (
                args.tls_cert.clone().or(file.tls_cert),
                args.tls_key.clone().or(file.tls_key),
            ) {
                (Some(cert), Some(key)) => Some(crate::tls::TlsFiles { cert, key }),
                _ => None,
            },
        }
    }
}
