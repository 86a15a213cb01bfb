//! How the CLI reaches a server: https with the Mozilla roots built in (air-gapped hosts need
//! no system store) plus a private CA from `--ca-file`; and never a credential over plain
//! http to anything but this host, unless told `--insecure-http` (which turns off no
//! certificate check: it only allows http).

use std::path::Path;

use anyhow::Context as _;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

/// A rustls client configuration trusting the built-in roots and those in `ca_file`.
pub fn client_config(ca_file: Option<&Path>) -> anyhow::Result<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Some(path) = ca_file {
        let mut added = 0;
        for cert in CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading --ca-file {}", path.display()))?
        {
            let cert = cert.with_context(|| format!("--ca-file {}", path.display()))?;
            roots
                .add(cert)
                .with_context(|| format!("--ca-file {}", path.display()))?;
            added += 1;
        }
        if added == 0 {
            anyhow::bail!("--ca-file {} holds no PEM certificate", path.display());
        }
    }
    Ok(burgee_raft::network::client_tls(roots))
}

/// Refuses to send a credential in the clear to another host.
pub fn check_credential_transport(base: &str, insecure_http: bool) -> anyhow::Result<()> {
    let url = reqwest::Url::parse(base).with_context(|| format!("the server URL {base:?}"))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if insecure_http || is_loopback(&url) => Ok(()),
        "http" => anyhow::bail!(
            "refusing to send a credential over plain http to {}: use https://, or \
             --insecure-http if the network between you and the server is trusted",
            url.host_str().unwrap_or(base)
        ),
        other => anyhow::bail!("the server URL {base:?} has scheme {other}: use https or http"),
    }
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let Some(host) = url.host_str() else {
        return false;
    };
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.eq_ignore_ascii_case("localhost"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_go_in_the_clear_only_to_this_host() {
        for ok in [
            "https://flags.example.com",
            "http://127.0.0.1:8000",
            "http://127.9.9.9:1",
            "http://localhost:8000",
            "http://[::1]:8000",
        ] {
            assert!(check_credential_transport(ok, false).is_ok(), "{ok}");
        }
        for refused in [
            "http://flags.example.com",
            "http://10.0.0.5:8000",
            "http://localhost.evil.com",
        ] {
            assert!(
                check_credential_transport(refused, false).is_err(),
                "{refused}"
            );
            assert!(
                check_credential_transport(refused, true).is_ok(),
                "{refused}"
            );
        }
        assert!(check_credential_transport("ftp://x", true).is_err());
    }
}
