//! `burgee health`: probes a running server's health endpoint and says so by its exit code,
//! for container `HEALTHCHECK`s and init systems on images that carry no curl.
//!
//! Without `--url` it finds the server the way `burgee serve` would be told where to listen
//! (`BURGEE_OPS_LISTEN`, else `BURGEE_LISTEN`, else the default port), so the image's
//! `HEALTHCHECK` needs no arguments.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, ValueEnum};

use crate::config::parse_duration;

#[derive(Debug, Args)]
pub struct HealthArgs {
    /// The server's base URL (default: from BURGEE_OPS_LISTEN or BURGEE_LISTEN, a wildcard
    /// address read as loopback; else http://127.0.0.1:8000).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// Which probe: liveness (the process is up and its writer runs) or readiness (it
    /// serves: initialised, and storage takes writes).
    #[arg(long, value_enum, default_value = "liveness")]
    pub probe: Probe,
    /// Give up after this long.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub timeout: Duration,
    /// Print nothing on success.
    #[arg(long, short)]
    pub quiet: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Probe {
    Liveness,
    Readiness,
}

impl Probe {
    fn path(self) -> &'static str {
        match self {
            Self::Liveness => "/health/liveness",
            Self::Readiness => "/health/readiness",
        }
    }
}

/// 0 when the probe answers 200, 1 when the server answers anything else or cannot be
/// reached (what `HEALTHCHECK` and systemd expect).
pub fn run(args: &HealthArgs) -> anyhow::Result<ExitCode> {
    let base = match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => default_base(
            std::env::var("BURGEE_OPS_LISTEN").ok().as_deref(),
            std::env::var("BURGEE_LISTEN").ok().as_deref(),
            std::env::var_os("BURGEE_TLS_CERT").is_some(),
        )?,
    };
    let url = format!("{base}{}", args.probe.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let outcome = runtime.block_on(async {
        let client = reqwest::Client::builder()
            .timeout(args.timeout)
            .tls_backend_preconfigured(probe_tls(url.starts_with("https://")))
            .build()?;
        let response = client.get(&url).send().await?;
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        Ok::<_, reqwest::Error>((status, body))
    });
    match outcome {
        Ok((status, body)) if status.is_success() => {
            if !args.quiet {
                println!("{url}: {} {}", status.as_u16(), body.trim());
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok((status, body)) => {
            eprintln!("burgee: {url}: {} {}", status.as_u16(), body.trim());
            Ok(ExitCode::FAILURE)
        }
        Err(error) => {
            eprintln!("burgee: {url}: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// TLS for a probe. A probe of this host's own port sends no credential and reads nothing
/// secret: over https it checks that the port answers, not who holds the certificate (which
/// names the service, not loopback), so it accepts any. Plain http needs no roots.
fn probe_tls(https: bool) -> rustls::ClientConfig {
    let mut config = burgee_raft::network::client_tls(rustls::RootCertStore::empty());
    if https {
        config
            .dangerous()
            .set_certificate_verifier(std::sync::Arc::new(AnyCertificate));
    }
    config
}

/// Accepts any server certificate: for [`probe_tls`] only.
#[derive(Debug)]
struct AnyCertificate;

impl rustls::client::danger::ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &supported())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &supported())
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        supported().supported_schemes()
    }
}

fn supported() -> rustls::crypto::WebPkiSupportedAlgorithms {
    rustls::crypto::ring::default_provider().signature_verification_algorithms
}

/// The base URL of the listener that serves the probes: the ops port (plain http) if one is
/// set, else the API port (https when it has a certificate).
fn default_base(
    ops_listen: Option<&str>,
    listen: Option<&str>,
    tls: bool,
) -> anyhow::Result<String> {
    let scheme = if tls { "https" } else { "http" };
    let (name, value, scheme) = match (ops_listen, listen) {
        (Some(ops), _) if !ops.is_empty() => ("BURGEE_OPS_LISTEN", ops, "http"),
        (_, Some(listen)) if !listen.is_empty() => ("BURGEE_LISTEN", listen, scheme),
        _ => return Ok(format!("{scheme}://127.0.0.1:8000")),
    };
    let address: SocketAddr = value
        .parse()
        .with_context(|| format!("{name}={value:?} is not an address such as 0.0.0.0:8000"))?;
    let ip = match address.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    Ok(format!(
        "{scheme}://{}",
        SocketAddr::new(ip, address.port())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probed_listener_follows_the_servers_settings() {
        let base = |ops, listen| default_base(ops, listen, false).unwrap();
        assert_eq!(base(None, None), "http://127.0.0.1:8000");
        assert_eq!(
            default_base(Some("0.0.0.0:9000"), Some("0.0.0.0:8443"), true).unwrap(),
            "http://127.0.0.1:9000",
            "the ops port never speaks TLS"
        );
        assert_eq!(
            default_base(None, Some("0.0.0.0:8443"), true).unwrap(),
            "https://127.0.0.1:8443"
        );
        assert_eq!(base(None, Some("0.0.0.0:8080")), "http://127.0.0.1:8080");
        assert_eq!(
            base(Some("[::]:9000"), Some("0.0.0.0:8080")),
            "http://[::1]:9000"
        );
        assert_eq!(base(Some(""), Some("10.0.0.5:80")), "http://10.0.0.5:80");
        assert!(default_base(None, Some("localhost"), false).is_err());
    }
}
