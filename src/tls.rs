//! TLS for the API listener and the cluster port (rustls with ring): the certificate chain and key are read from
//! files at start (a bad pair stops the server with a clear message) and read again whenever
//! either file changes, so a renewed certificate (cert-manager, certbot, a rotated Secret)
//! is served without a restart. A new pair that cannot be used is logged and the old one kept.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::client::ResolvesClientCert;
use rustls::crypto::ring::{default_provider, sign::any_supported_type};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::danger::ClientCertVerifier;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// How often the files are looked at for a change.
pub const RELOAD_CHECK: Duration = Duration::from_secs(5);

/// The certificate and key files of a listener.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

/// What the files looked like when last read: a change in either means read again.
type Stamp = [(Option<SystemTime>, u64); 2];

/// Serves the newest good certificate.
#[derive(Debug)]
pub struct Reloading {
    files: TlsFiles,
    current: ArcSwap<CertifiedKey>,
    seen: Mutex<Stamp>,
}

impl ResolvesServerCert for Reloading {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

/// A node shows its cluster certificate as a client too (mutual TLS), renewed alike.
impl ResolvesClientCert for Reloading {
    fn resolve(
        &self,
        _root_hint_subjects: &[&[u8]],
        _sigschemes: &[rustls::SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// The certificates of a PEM bundle, as trust roots.
pub fn roots(path: &Path) -> anyhow::Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path)
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?
    {
        let cert = cert.map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        roots.add(cert).map_err(|e| {
            anyhow::anyhow!("{}: a certificate cannot be a root ({e})", path.display())
        })?;
    }
    if roots.is_empty() {
        anyhow::bail!("{} holds no PEM certificate", path.display());
    }
    Ok(roots)
}

fn stamp(files: &TlsFiles) -> Stamp {
    let one =
        |path: &Path| std::fs::metadata(path).map_or((None, 0), |m| (m.modified().ok(), m.len()));
    [one(&files.cert), one(&files.key)]
}

/// Reads and checks a certificate chain and its private key.
fn load(files: &TlsFiles) -> Result<CertifiedKey, String> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .map_err(|e| format!("{}: {e}", files.cert.display()))?
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{}: {e}", files.cert.display()))?;
    if chain.is_empty() {
        return Err(format!("{} holds no PEM certificate", files.cert.display()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key)
        .map_err(|e| format!("{}: no usable PEM private key ({e})", files.key.display()))?;
    let signer = any_supported_type(&key).map_err(|e| format!("{}: {e}", files.key.display()))?;
    let certified = CertifiedKey::new(chain, signer);
    certified.keys_match().map_err(|e| {
        format!(
            "{} does not belong to the certificate in {} ({e})",
            files.key.display(),
            files.cert.display()
        )
    })?;
    Ok(certified)
}

impl Reloading {
    /// Reads the files; fails when they cannot be used.
    pub fn new(files: TlsFiles) -> anyhow::Result<Arc<Self>> {
        let seen = stamp(&files);
        let current = load(&files).map_err(anyhow::Error::msg)?;
        Ok(Arc::new(Self {
            files,
            current: ArcSwap::from_pointee(current),
            seen: Mutex::new(seen),
        }))
    }

    /// Reads the files again if either changed; returns whether a new pair is served.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.files);
        {
            let Ok(mut seen) = self.seen.lock() else {
                return false;
            };
            if *seen == now {
                return false;
            }
            *seen = now;
        }
        match load(&self.files) {
            Ok(pair) => {
                self.current.store(Arc::new(pair));
                metrics::counter!("burgee_tls_reloads_total", "outcome" => "loaded").increment(1);
                tracing::info!(cert = %self.files.cert.display(), "serving the renewed TLS certificate");
                true
            }
            Err(error) => {
                metrics::counter!("burgee_tls_reloads_total", "outcome" => "refused").increment(1);
                // A half-written renewal often shows up as one file changed before the other:
                // the next check reads both again.
                tracing::error!(%error, "the changed TLS files cannot be used; the previous certificate is still served");
                false
            }
        }
    }

    /// Looks for changed files every [`RELOAD_CHECK`], for as long as the server runs.
    pub async fn watch(self: Arc<Self>) {
        let mut ticks = tokio::time::interval(RELOAD_CHECK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            let this = Arc::clone(&self);
            let _ = tokio::task::spawn_blocking(move || this.reload_if_changed()).await;
        }
    }
}

/// The acceptor of a listener serving `resolver`'s certificate, speaking HTTP/2 and 1.1.
pub fn acceptor(resolver: Arc<Reloading>) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    acceptor_checking(resolver, None)
}

/// The same, demanding a client certificate that `clients` accepts (mutual TLS) if given.
pub fn acceptor_checking(
    resolver: Arc<Reloading>,
    clients: Option<Arc<dyn ClientCertVerifier>>,
) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
    let builder = rustls::ServerConfig::builder_with_provider(Arc::new(default_provider()))
        .with_safe_default_protocol_versions()?;
    let builder = match clients {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder.with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}
