//! The CLI's saved sign-in (`burgee login`): the server's URL and a session token, in a
//! file only its owner can read, like kubectl's config.

use std::path::PathBuf;

use anyhow::Context as _;
use serde::{Deserialize, Serialize};

use crate::secrets::Secret;

#[derive(Debug, Serialize, Deserialize)]
pub struct Profile {
    pub url: String,
    pub token: Secret,
}

/// `$BURGEE_CONFIG_DIR/cli.toml`, else `$XDG_CONFIG_HOME/burgee/cli.toml`, else
/// `~/.config/burgee/cli.toml`.
pub fn path() -> Option<PathBuf> {
    let dir = std::env::var_os("BURGEE_CONFIG_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CONFIG_HOME").map(|d| PathBuf::from(d).join("burgee")))
        .or_else(|| {
            std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config").join("burgee"))
        })?;
    Some(dir.join("cli.toml"))
}

#[derive(Serialize, Deserialize)]
struct Stored {
    url: String,
    token: String,
}

pub fn load() -> anyhow::Result<Option<Profile>> {
    let Some(path) = path() else { return Ok(None) };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let stored: Stored =
        toml::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    Ok(Some(Profile {
        url: stored.url,
        token: Secret::new(stored.token),
    }))
}

pub fn save(profile: &Profile) -> anyhow::Result<PathBuf> {
    use std::io::Write as _;
    use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
    let path = path().context("no home directory for the CLI's config: set BURGEE_CONFIG_DIR")?;
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let text = toml::to_string(&Stored {
        url: profile.url.clone(),
        token: profile.token.expose().to_owned(),
    })?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)?;
    file.write_all(text.as_bytes())?;
    Ok(path)
}

pub fn remove() -> anyhow::Result<()> {
    if let Some(path) = path() {
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing {}", path.display())),
        }
    }
    Ok(())
}
