//! Random secrets (tokens, keys) and how they are stored: only their SHA-256.

use sha2::{Digest, Sha256};

/// `len` random letters and digits from the operating system's generator.
/// Creates (or empties) a file only its owner may read or write: for secrets, backups and
/// anything else holding credentials or personal data.
pub fn create_private(path: &std::path::Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt as _;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
}

pub fn random_text(len: usize) -> Result<String, getrandom::Error> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut bytes = vec![0u8; len];
    getrandom::fill(&mut bytes)?;
    // 256 is not a multiple of 62; the slight bias costs well under a bit of entropy.
    Ok(bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]))
        .collect())
}

/// A new secret of a kind: `prefix` (`bgt_`, `bgs_`, `bgi_`, …, so secret scanners and
/// people can tell what leaked) and 43 random characters (more than 256 bits).
pub fn prefixed_secret(prefix: &str) -> Result<String, getrandom::Error> {
    Ok(format!("{prefix}{}", random_text(43)?))
}

/// A new admin API token.
pub fn random_token() -> Result<String, getrandom::Error> {
    random_text(40)
}

/// What is stored of a secret.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// A secret given to Burgee (a token): its `Debug` output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that uses it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a secret from a file (e.g. a mounted Kubernetes secret), without the trailing
    /// line break.
    pub fn from_file(path: &std::path::Path) -> std::io::Result<Self> {
        let text = std::fs::read_to_string(path)?;
        Ok(Self(text.trim_end_matches(['\n', '\r']).to_owned()))
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("<redacted>")
    }
}

/// A secret given directly or as a file; both at once is a mistake.
pub fn secret_or_file(
    direct: Option<&Secret>,
    file: Option<&std::path::Path>,
    what: &str,
) -> anyhow::Result<Option<Secret>> {
    use anyhow::Context as _;
    match (direct, file) {
        (Some(_), Some(_)) => anyhow::bail!("give {what} or its file, not both"),
        (Some(secret), None) => Ok(Some(secret.clone())),
        (None, Some(path)) => Secret::from_file(path)
            .map(Some)
            .with_context(|| format!("reading {what} from {}", path.display())),
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::Secret;

    #[test]
    fn a_secret_never_shows_in_debug_or_serialised_output() {
        let secret = Secret::new("hunter2-hunter2-hunter2");
        assert_eq!(format!("{secret:?}"), "<redacted>");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(<redacted>)");
        assert_eq!(
            serde_json::to_string(&secret).ok().as_deref(),
            Some("\"<redacted>\"")
        );
        assert_eq!(secret.expose(), "hunter2-hunter2-hunter2");
    }
}
