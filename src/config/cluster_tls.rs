//! TLS for cluster traffic: the certificate a node shows on its cluster port (and, when the
//! peers ask for one, as its client certificate), the CA its peers' certificates must chain
//! to, and `--tls-client-ca`, which makes the cluster port demand a client certificate issued
//! by that CA (mutual TLS: only nodes holding such a certificate talk Raft to it).

use std::path::PathBuf;

use clap::Args;
use serde::Serialize;

use crate::tls::TlsFiles;

/// `burgee serve` options for TLS between nodes.
#[derive(Debug, Clone, Args, Default)]
pub struct ClusterTlsArgs {
    /// Serve the cluster port over TLS with this certificate chain (PEM; read again when it
    /// changes). The node shows the same certificate as a client when peers demand one.
    #[arg(
        long,
        env = "BURGEE_CLUSTER_TLS_CERT",
        value_name = "FILE",
        requires = "cluster_tls_key"
    )]
    pub cluster_tls_cert: Option<PathBuf>,
    /// The private key of --cluster-tls-cert (PEM).
    #[arg(
        long,
        env = "BURGEE_CLUSTER_TLS_KEY",
        value_name = "FILE",
        requires = "cluster_tls_cert"
    )]
    pub cluster_tls_key: Option<PathBuf>,
    /// The CA (PEM bundle) peers' cluster certificates must chain to (default: --tls-client-ca).
    #[arg(long, env = "BURGEE_CLUSTER_CA", value_name = "FILE")]
    pub cluster_ca: Option<PathBuf>,
    /// Mutual TLS between nodes: the cluster port accepts only clients showing a certificate
    /// issued by this CA (PEM bundle). Needs --cluster-tls-cert.
    #[arg(long, env = "BURGEE_TLS_CLIENT_CA", value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,
}

/// The same settings in the file.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct FileClusterTls {
    pub cluster_tls_cert: Option<PathBuf>,
    pub cluster_tls_key: Option<PathBuf>,
    pub cluster_ca: Option<PathBuf>,
    pub tls_client_ca: Option<PathBuf>,
}

/// How a node secures its cluster traffic.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ClusterTls {
    /// The cluster port's certificate (`None`: plain http).
    pub serve: Option<TlsFiles>,
    /// The roots peers' certificates are checked against (needed to reach https peers).
    pub peer_ca: Option<PathBuf>,
    /// The CA client certificates must be issued by (mutual TLS).
    pub client_ca: Option<PathBuf>,
}

impl ClusterTls {
    /// Flags and the environment over the file.
    pub fn resolve(args: &ClusterTlsArgs, file: FileClusterTls) -> anyhow::Result<Self> {
        let serve = match (
            args.cluster_tls_cert.clone().or(file.cluster_tls_cert),
            args.cluster_tls_key.clone().or(file.cluster_tls_key),
        ) {
            (Some(cert), Some(key)) => Some(TlsFiles { cert, key }),
            (None, None) => None,
            _ => anyhow::bail!("cluster_tls_cert and cluster_tls_key go together"),
        };
        let client_ca = args.tls_client_ca.clone().or(file.tls_client_ca);
        if client_ca.is_some() && serve.is_none() {
            anyhow::bail!(
                "--tls-client-ca needs --cluster-tls-cert and --cluster-tls-key: mutual TLS runs \
                 on a TLS cluster port, and the node shows that certificate to its peers"
            );
        }
        let peer_ca = args
            .cluster_ca
            .clone()
            .or(file.cluster_ca)
            .or_else(|| client_ca.clone());
        Ok(Self {
            serve,
            peer_ca,
            client_ca,
        })
    }

    /// Checks that the node's own URL and its peers' fit this setup: a TLS port is reached
    /// at https, and https peers need roots to check them with.
    pub fn check_urls<'a>(
        &self,
        advertise: &str,
        peers: impl IntoIterator<Item = &'a str>,
    ) -> anyhow::Result<()> {
        let https = |url: &str| url.starts_with("https://");
        match (self.serve.is_some(), https(advertise)) {
            (true, false) => anyhow::bail!(
                "the cluster port speaks TLS (--cluster-tls-cert) but this node advertises \
                 {advertise}: give --advertise-cluster-url an https:// URL"
            ),
            (false, true) => anyhow::bail!(
                "this node advertises {advertise} but its cluster port has no certificate: \
                 give --cluster-tls-cert and --cluster-tls-key"
            ),
            _ => {}
        }
        for peer in peers {
            if https(peer) != self.serve.is_some() {
                anyhow::bail!(
                    "--initial-cluster mixes http and https ({peer} and {advertise}): every \
                     member of a cluster speaks TLS or none does"
                );
            }
        }
        if self.serve.is_some() && self.peer_ca.is_none() {
            anyhow::bail!(
                "https peers are checked against a CA: give --cluster-ca (or --tls-client-ca)"
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files() -> FileClusterTls {
        FileClusterTls {
            cluster_tls_cert: Some("/c.pem".into()),
            cluster_tls_key: Some("/k.pem".into()),
            cluster_ca: None,
            tls_client_ca: Some("/ca.pem".into()),
        }
    }

    #[test]
    fn the_client_ca_checks_peers_too_unless_a_cluster_ca_is_given() {
        let tls = ClusterTls::resolve(&ClusterTlsArgs::default(), files()).expect("valid");
        assert_eq!(tls.peer_ca, Some(PathBuf::from("/ca.pem")));
        let args = ClusterTlsArgs {
            cluster_ca: Some("/other.pem".into()),
            ..ClusterTlsArgs::default()
        };
        let tls = ClusterTls::resolve(&args, files()).expect("valid");
        assert_eq!(tls.peer_ca, Some(PathBuf::from("/other.pem")));
        assert_eq!(tls.client_ca, Some(PathBuf::from("/ca.pem")));
    }

    #[test]
    fn mutual_tls_needs_a_certificate_and_urls_must_fit() {
        let no_cert = FileClusterTls {
            cluster_tls_cert: None,
            cluster_tls_key: None,
            ..files()
        };
        assert!(ClusterTls::resolve(&ClusterTlsArgs::default(), no_cert).is_err());
        let tls = ClusterTls::resolve(&ClusterTlsArgs::default(), files()).expect("valid");
        assert!(tls.check_urls("https://a:7946", ["https://b:7946"]).is_ok());
        assert!(tls.check_urls("http://a:7946", []).is_err());
        assert!(tls.check_urls("https://a:7946", ["http://b:7946"]).is_err());
        let plain = ClusterTls::default();
        assert!(plain.check_urls("http://a:7946", ["http://b:7946"]).is_ok());
        assert!(plain.check_urls("https://a:7946", []).is_err());
        assert!(
            plain
                .check_urls("http://a:7946", ["https://b:7946"])
                .is_err()
        );
    }
}
