//! Random secrets (tokens, keys) and how they are stored: only their SHA-256.

use sha2::{Digest, Sha256};

/// `len` random letters and digits from the operating system's generator.
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

/// A new admin API token.
pub fn random_token() -> Result<String, getrandom::Error> {
    random_text(40)
}

/// What is stored of a secret.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}
