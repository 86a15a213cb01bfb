//! Password hashing with argon2id (OWASP parameters: 19 MiB, two passes). Each hash holds
//! 19 MiB for tens of milliseconds, so at most [`MAX_CONCURRENT`] run at once; the others wait
//! their turn (bounded), and a flood of logins cannot exhaust memory.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

use crate::secrets::Secret;

/// Hashes at once (each takes ~19 MiB).
pub const MAX_CONCURRENT: usize = 2;
/// How long a request waits for a turn before the server says it is busy.
const WAIT: Duration = Duration::from_secs(10);
pub const MIN_LENGTH: usize = 12;
pub const MAX_LENGTH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the server is busy hashing passwords; try again shortly")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

fn permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| Arc::new(Semaphore::new(MAX_CONCURRENT)))
}

async fn bounded<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, PasswordError> {
    let permit = tokio::time::timeout(WAIT, Arc::clone(permits()).acquire_owned())
        .await
        .map_err(|_| PasswordError::Busy)?
        .map_err(|_| PasswordError::Busy)?;
    let result = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        work()
    })
    .await
    .map_err(|e| PasswordError::Failed(e.to_string()))?;
    Ok(result)
}

/// A new PHC string for `password`.
pub async fn hash(password: &Secret) -> Result<String, PasswordError> {
    let password = password.clone();
    bounded(move || {
        Argon2::default()
            .hash_password(password.expose().as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Failed(e.to_string()))
    })
    .await?
}

/// Whether `password` matches `stored`; with no stored hash, a dummy one is checked so the
/// answer takes as long as for a real account.
pub async fn verify(password: &Secret, stored: Option<String>) -> Result<bool, PasswordError> {
    let password = password.clone();
    bounded(move || {
        let (stored, real) = match stored {
            Some(s) => (s, true),
            None => (dummy_hash().to_owned(), false),
        };
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.expose().as_bytes(), &parsed)
            .is_ok();
        real && matches
    })
    .await
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        Argon2::default()
            .hash_password(b"burgee-no-such-account")
            .map(|h| h.to_string())
            .unwrap_or_default()
    })
}

/// The password rules, checked before hashing.
pub fn check_strength(password: &str, email: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!("a password needs at least {MIN_LENGTH} characters"));
    }
    if password.len() > MAX_LENGTH {
        return Err(format!("a password may have at most {MAX_LENGTH} bytes"));
    }
    if password.trim().eq_ignore_ascii_case(email.trim()) {
        return Err("the password cannot be the e-mail address".into());
    }
    Ok(())
}
