//! Encrypted backup files: the whole backup stream sealed with ChaCha20-Poly1305 under a
//! 256-bit key from a key file, in 64 KiB chunks (the STREAM construction: each chunk's nonce
//! is a random per-file prefix, the chunk's number and a last-chunk flag), so a file is
//! encrypted and decrypted as a stream, and a chunk that is altered, reordered, dropped or cut
//! off is refused.
//!
//! Layout: `burgee-backup-e\n` (16 bytes), the key's id (the first 8 bytes of SHA-256 of the
//! key, to name a wrong key as such), the 7-byte nonce prefix, then chunks of
//! `u32 LE length + ciphertext and tag`.

use std::io::{Read, Write};
use std::path::Path;

use ring::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};

use super::error::StoreError;

pub const MAGIC: &[u8; 16] = b"burgee-backup-e\n";
const CHUNK: usize = 64 * 1024;
const TAG: usize = 16;
const PREFIX: usize = 7;

/// A backup key, read from a key file (64 hex characters, as `burgee backup keygen` writes).
pub struct BackupKey {
    key: LessSafeKey,
    id: [u8; 8],
}

impl BackupKey {
    pub fn from_file(path: &Path) -> Result<Self, StoreError> {
        let unusable = |why: String| StoreError::Unusable(format!("{}: {why}", path.display()));
        let text = std::fs::read_to_string(path).map_err(|e| unusable(e.to_string()))?;
        let hex = text.trim();
        if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(unusable(
                "a backup key file holds 64 hexadecimal characters (burgee backup keygen)".into(),
            ));
        }
        let mut bytes = [0u8; 32];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                .map_err(|e| unusable(e.to_string()))?;
        }
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8; 32]) -> Result<Self, StoreError> {
        let digest: [u8; 32] = Sha256::new_with_prefix(b"burgee-backup-key:")
            .chain_update(bytes)
            .finalize()
            .into();
        let mut id = [0u8; 8];
        id.copy_from_slice(&digest[..8]);
        let key = UnboundKey::new(&aead::CHACHA20_POLY1305, bytes)
            .map_err(|_| StoreError::Internal("a 32-byte key is refused".into()))?;
        Ok(Self {
            key: LessSafeKey::new(key),
            id,
        })
    }

    /// A new random key, as the 64 hex characters of a key file.
    pub fn generate() -> Result<String, StoreError> {
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| StoreError::Internal("no randomness for a key".into()))?;
        Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
    }
}

fn nonce(prefix: &[u8; PREFIX], counter: u32, last: bool) -> Nonce {
    let mut bytes = [0u8; 12];
    bytes[..PREFIX].copy_from_slice(prefix);
    bytes[PREFIX..PREFIX + 4].copy_from_slice(&counter.to_be_bytes());
    bytes[11] = u8::from(last);
    Nonce::assume_unique_for_key(bytes)
}

/// Encrypts everything written to it; [`Sealing::finish`] seals the last chunk.
pub struct Sealing<'k, W: Write> {
    out: W,
    key: &'k BackupKey,
    prefix: [u8; PREFIX],
    counter: u32,
    buffer: Vec<u8>,
}

impl<'k, W: Write> Sealing<'k, W> {
    pub fn new(mut out: W, key: &'k BackupKey) -> Result<Self, StoreError> {
        let mut prefix = [0u8; PREFIX];
        SystemRandom::new()
            .fill(&mut prefix)
            .map_err(|_| StoreError::Internal("no randomness for a nonce".into()))?;
        let failed = |e: std::io::Error| StoreError::Database(format!("writing the backup: {e}"));
        out.write_all(MAGIC).map_err(failed)?;
        out.write_all(&key.id).map_err(failed)?;
        out.write_all(&prefix).map_err(failed)?;
        Ok(Self {
            out,
            key,
            prefix,
            counter: 0,
            buffer: Vec::with_capacity(CHUNK + TAG),
        })
    }

    fn seal(&mut self, last: bool) -> std::io::Result<()> {
        let nonce = nonce(&self.prefix, self.counter, last);
        self.key
            .key
            .seal_in_place_append_tag(nonce, Aad::empty(), &mut self.buffer)
            .map_err(|_| std::io::Error::other("encrypting the backup"))?;
        let length = u32::try_from(self.buffer.len()).map_err(std::io::Error::other)?;
        self.out.write_all(&length.to_le_bytes())?;
        self.out.write_all(&self.buffer)?;
        self.buffer.clear();
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| std::io::Error::other("a backup beyond 256 TiB"))?;
        Ok(())
    }

    /// Seals what remains as the last chunk and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.seal(true)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl<W: Write> Write for Sealing<'_, W> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK {
            self.seal(false)?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// Decrypts a sealed stream as it is read; refuses a wrong key, an altered chunk and a
/// stream cut off before its last chunk.
pub struct Opening<'k, R: Read> {
    input: R,
    key: &'k BackupKey,
    prefix: [u8; PREFIX],
    counter: u32,
    chunk: Vec<u8>,
    at: usize,
    done: bool,
}

fn refused(why: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, why.to_owned())
}

impl<'k, R: Read> Opening<'k, R> {
    /// After [`MAGIC`], which the caller has read to tell a sealed file from a plain one.
    pub fn new(mut input: R, key: &'k BackupKey) -> Result<Self, StoreError> {
        let mut id = [0u8; 8];
        let mut prefix = [0u8; PREFIX];
        input
            .read_exact(&mut id)
            .and_then(|()| input.read_exact(&mut prefix))
            .map_err(|_| {
                StoreError::Corrupt("backup: the encrypted file ends in its header".into())
            })?;
        if id != key.id {
            return Err(StoreError::Unusable(
                "the backup was encrypted with another key".into(),
            ));
        }
        Ok(Self {
            input,
            key,
            prefix,
            counter: 0,
            chunk: Vec::new(),
            at: 0,
            done: false,
        })
    }

    fn next_chunk(&mut self) -> std::io::Result<()> {
        let mut length = [0u8; 4];
        self.input.read_exact(&mut length).map_err(|_| {
            refused("the encrypted backup is truncated (its last chunk is missing)")
        })?;
        let length = u32::from_le_bytes(length) as usize;
        if !(TAG..=CHUNK + TAG).contains(&length) {
            return Err(refused(
                "the encrypted backup is damaged (a chunk of impossible size)",
            ));
        }
        self.chunk.resize(length, 0);
        self.input
            .read_exact(&mut self.chunk)
            .map_err(|_| refused("the encrypted backup is truncated"))?;
        // Every chunk but the last is full: the writer seals a full buffer at once, and
        // `finish` seals what remains (perhaps nothing) as the last.
        let last = length < CHUNK + TAG;
        let nonce = nonce(&self.prefix, self.counter, last);
        let plain = self
            .key
            .key
            .open_in_place(nonce, Aad::empty(), &mut self.chunk)
            .map_err(|_| refused("the encrypted backup was altered or damaged"))?
            .len();
        self.chunk.truncate(plain);
        self.at = 0;
        self.counter = self
            .counter
            .checked_add(1)
            .ok_or_else(|| refused("the encrypted backup has more chunks than any writer makes"))?;
        self.done = last;
        if last {
            let mut extra = [0u8; 1];
            if self.input.read(&mut extra)? != 0 {
                return Err(refused("bytes follow the encrypted backup's last chunk"));
            }
        }
        Ok(())
    }
}

impl<R: Read> Read for Opening<'_, R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            if self.done {
                return Ok(0);
            }
            self.next_chunk()?;
        }
        let n = buffer.len().min(self.chunk.len() - self.at);
        buffer[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> BackupKey {
        BackupKey::from_bytes(&[byte; 32]).unwrap()
    }

    fn seal(key: &BackupKey, plain: &[u8]) -> Vec<u8> {
        let mut sealing = Sealing::new(Vec::new(), key).unwrap();
        sealing.write_all(plain).unwrap();
        sealing.finish().unwrap()
    }

    fn open(key: &BackupKey, sealed: &[u8]) -> Result<Vec<u8>, String> {
        let rest = sealed.strip_prefix(MAGIC.as_slice()).ok_or("no magic")?;
        let mut opening = Opening::new(rest, key).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        opening.read_to_end(&mut out).map_err(|e| e.to_string())?;
        Ok(out)
    }

    #[test]
    fn round_trips_at_every_chunk_boundary() {
        let key = key(7);
        for size in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK] {
            let plain: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            let sealed = seal(&key, &plain);
            assert_ne!(
                &sealed[MAGIC.len() + 15..],
                &plain[..],
                "size {size} is encrypted"
            );
            assert_eq!(open(&key, &sealed).unwrap(), plain, "size {size}");
        }
    }

    #[test]
    fn refuses_a_wrong_key_and_every_damage() {
        let key = key(7);
        let plain = vec![42u8; 2 * CHUNK + 10];
        let sealed = seal(&key, &plain);
        assert!(
            open(&self::key(8), &sealed)
                .unwrap_err()
                .contains("another key")
        );
        let mut flipped = sealed.clone();
        flipped[MAGIC.len() + 30] ^= 1;
        assert!(open(&key, &flipped).unwrap_err().contains("altered"));
        // Cut at a chunk boundary: the last chunk is missing.
        let boundary = MAGIC.len() + 15 + 2 * (4 + CHUNK + TAG);
        assert!(
            open(&key, &sealed[..boundary])
                .unwrap_err()
                .contains("truncated")
        );
        assert!(
            open(&key, &sealed[..sealed.len() - 1])
                .unwrap_err()
                .contains("truncated")
        );
        let mut extended = sealed.clone();
        extended.push(0);
        assert!(open(&key, &extended).unwrap_err().contains("follow"));
        // Chunks swapped: each is bound to its place.
        let first = MAGIC.len() + 15;
        let size = 4 + CHUNK + TAG;
        let mut swapped = sealed;
        let (a, b) = swapped[first..first + 2 * size].split_at_mut(size);
        a.swap_with_slice(b);
        assert!(open(&key, &swapped).unwrap_err().contains("altered"));
    }

    #[test]
    fn key_files_hold_64_hex_characters() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, format!("{}\n", BackupKey::generate().unwrap())).unwrap();
        assert!(BackupKey::from_file(&path).is_ok());
        std::fs::write(&path, "not a key").unwrap();
        assert!(BackupKey::from_file(&path).is_err());
    }
}
