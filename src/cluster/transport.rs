//! How a node's cluster traffic travels: plain http, TLS, or mutual TLS. One certificate
//! (read again when its files change) is served on the cluster port and shown to peers that
//! demand a client certificate; peers' certificates are checked against the cluster CA.

use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;

use crate::config::ClusterTls;
use crate::tls::Reloading;

/// The pieces of a node's cluster TLS, built once at start.
#[derive(Clone, Default)]
pub struct Transport {
    /// The cluster port's acceptor (`None`: plain http).
    pub acceptor: Option<tokio_rustls::TlsAcceptor>,
    /// How peers are reached (`None`: plain http).
    pub peers: Option<rustls::ClientConfig>,
    /// The certificate to watch for renewals.
    pub certificate: Option<Arc<Reloading>>,
}

impl Transport {
    /// Reads the certificate, key and CAs; fails with a clear message when they cannot be used.
    pub fn new(tls: &ClusterTls) -> anyhow::Result<Self> {
        let Some(files) = &tls.serve else {
            return Ok(Self::default());
        };
        let certificate = Reloading::new(files.clone())?;
        let clients = match &tls.client_ca {
            Some(path) => {
                let roots = crate::tls::roots(path)?;
                let verifier = WebPkiClientVerifier::builder_with_provider(
                    Arc::new(roots),
                    Arc::new(rustls::crypto::ring::default_provider()),
                )
                .build()
                .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
                Some(verifier)
            }
            None => None,
        };
        let acceptor = crate::tls::acceptor_checking(Arc::clone(&certificate), clients)?;
        let peers = match &tls.peer_ca {
            Some(path) => Some(burgee_raft::network::client_tls_showing(
                crate::tls::roots(path)?,
                Some(Arc::clone(&certificate) as Arc<dyn rustls::client::ResolvesClientCert>),
            )),
            None => None,
        };
        Ok(Self {
            acceptor: Some(acceptor),
            peers,
            certificate: Some(certificate),
        })
    }
}
