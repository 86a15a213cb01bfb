//! A private CA and server certificates it signs, made with the openssl command.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn openssl(args: &[&OsStr]) {
    let out = Command::new("openssl").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A CA in `dir` (`ca.pem`, `ca.key`), valid for two days.
pub struct TestCa {
    pub cert: PathBuf,
    key: PathBuf,
    dir: PathBuf,
}

impl TestCa {
    pub fn new(dir: &Path) -> Self {
        let (key, cert) = (dir.join("ca.key"), dir.join("ca.pem"));
        openssl(&[
            os("req"),
            os("-x509"),
            os("-newkey"),
            os("ec"),
            os("-pkeyopt"),
            os("ec_paramgen_curve:prime256v1"),
            os("-nodes"),
            os("-days"),
            os("2"),
            os("-subj"),
            os("/CN=Burgee test CA"),
            os("-keyout"),
            key.as_os_str(),
            os("-out"),
            cert.as_os_str(),
        ]);
        Self {
            cert,
            key,
            dir: dir.to_owned(),
        }
    }

    /// A certificate for 127.0.0.1 and localhost signed by this CA: `NAME.pem`, `NAME.key`
    /// (mode 0600).
    pub fn server(&self, name: &str) -> (PathBuf, PathBuf) {
        self.server_for(name, "IP:127.0.0.1,DNS:localhost")
    }

    /// The same for the subject alternative names `sans` (`DNS:a,IP:b`, openssl's form).
    pub fn server_for(&self, name: &str, sans: &str) -> (PathBuf, PathBuf) {
        let (key, request, cert, extensions) = (
            self.dir.join(format!("{name}.key")),
            self.dir.join(format!("{name}.csr")),
            self.dir.join(format!("{name}.pem")),
            self.dir.join(format!("{name}.ext")),
        );
        openssl(&[
            os("req"),
            os("-newkey"),
            os("ec"),
            os("-pkeyopt"),
            os("ec_paramgen_curve:prime256v1"),
            os("-nodes"),
            os("-subj"),
            os("/CN=127.0.0.1"),
            os("-keyout"),
            key.as_os_str(),
            os("-out"),
            request.as_os_str(),
        ]);
        std::fs::write(&extensions, format!("subjectAltName={sans}\n")).unwrap();
        openssl(&[
            os("x509"),
            os("-req"),
            os("-in"),
            request.as_os_str(),
            os("-CA"),
            self.cert.as_os_str(),
            os("-CAkey"),
            self.key.as_os_str(),
            os("-CAcreateserial"),
            os("-days"),
            os("2"),
            os("-extfile"),
            extensions.as_os_str(),
            os("-out"),
            cert.as_os_str(),
        ]);
        Command::new("chmod").arg("600").arg(&key).status().unwrap();
        Command::new("chmod")
            .arg("644")
            .arg(&cert)
            .arg(&self.cert)
            .status()
            .unwrap();
        (cert, key)
    }
}

/// The serial number of the certificate the server at `address` presents, read with
/// `openssl s_client` (showing the client certificate `[cert, key]` if given).
pub fn served_serial(address: &str, client: &[&Path]) -> String {
    let mut shown = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {address} -servername localhost {} </dev/null \
             2>/dev/null | openssl x509 -noout -serial",
            match client {
                [cert, key] => format!("-cert {} -key {}", cert.display(), key.display()),
                _ => String::new(),
            }
        ))
        .output()
        .unwrap();
    shown.stdout.retain(|b| !b.is_ascii_whitespace());
    String::from_utf8(shown.stdout).unwrap()
}

/// Replaces `to` with `from` in one rename, as a certificate manager does.
pub fn replace(from: &Path, to: &Path) {
    let staged = to.with_extension("staged");
    std::fs::copy(from, &staged).unwrap();
    std::fs::rename(&staged, to).unwrap();
}
