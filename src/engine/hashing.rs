//! Flagsmith's percentage hashing: MD5 of comma-joined ids, mapped onto `[0, 100)`.

use md5::{Digest, Md5};

/// The percentage in `[0, 100)` for a list of already-stringified ids.
///
/// The joined text is hashed with MD5, read as a 128-bit big-endian integer `n`, and mapped
/// to `((n mod 9999) / 9998) * 100`. Exactly 100 is re-hashed with the list repeated once more.
pub fn hashed_percentage(ids: &[&str]) -> f64 {
    let mut iterations = 1;
    loop {
        let remainder = mod_9999(md5_of_joined(ids, iterations));
        // Same operation order as Python for bit-identical results.
        let value = (remainder as f64 / 9998.0) * 100.0;
        if value != 100.0 {
            return value;
        }
        iterations += 1;
    }
}

/// MD5 of `ids` repeated `iterations` times and joined with commas, as a big-endian integer.
fn md5_of_joined(ids: &[&str], iterations: usize) -> u128 {
    let joined_len = (ids.iter().map(|id| id.len()).sum::<usize>() + ids.len()) * iterations - 1;
    if iterations == 1 && joined_len <= 55 {
        // The usual case, "<seed>,<env key>_<identifier>": one MD5 block built in place.
        let mut block = [0u8; 64];
        let mut at = 0;
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                block[at] = b',';
                at += 1;
            }
            block[at..at + id.len()].copy_from_slice(id.as_bytes());
            at += id.len();
        }
        return md5_single_block(block, at);
    }
    let mut message = Vec::with_capacity(joined_len);
    for (i, id) in std::iter::repeat_n(ids, iterations).flatten().enumerate() {
        if i > 0 {
            message.push(b',');
        }
        message.extend_from_slice(id.as_bytes());
    }
    md5_as_integer(&message)
}

/// MD5 of the first `len` (at most 55) bytes of `block`, padded in place.
fn md5_single_block(mut block: [u8; 64], len: usize) -> u128 {
    const INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
    block[len] = 0x80;
    block[56..].copy_from_slice(&(len as u64 * 8).to_le_bytes());
    let mut state = INITIAL_STATE;
    md5::block_api::compress(&mut state, &[block]);
    // The digest is the state words in little-endian order, read as one big-endian number.
    state.iter().fold(0u128, |n, word| (n << 32) | u128::from(word.swap_bytes()))
}

/// MD5 of `message` read as a big-endian 128-bit integer.
fn md5_as_integer(message: &[u8]) -> u128 {
    if message.len() <= 55 {
        let mut block = [0u8; 64];
        block[..message.len()].copy_from_slice(message);
        return md5_single_block(block, message.len());
    }
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&Md5::digest(message));
    u128::from_be_bytes(digest)
}

/// `n % 9999` from 64-bit halves: a 128-bit division is a slow library call.
fn mod_9999(n: u128) -> u64 {
    const M: u64 = 9999;
    let high = (n >> 64) as u64 % M;
    let low = n as u64 % M;
    // 2^64 mod 9999, and every product below stays far under 2^64.
    let shift = ((1u128 << 64) % u128::from(M)) as u64;
    (high * shift + low) % M
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_block_md5_matches_the_streaming_digest() {
        let text: String = (0..200)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        for len in 0..text.len() {
            let message = &text.as_bytes()[..len];
            let mut expected = [0u8; 16];
            expected.copy_from_slice(&Md5::digest(message));
            assert_eq!(
                md5_as_integer(message),
                u128::from_be_bytes(expected),
                "length {len}"
            );
        }
    }

    #[test]
    fn mod_9999_matches_128_bit_division() {
        for n in [
            0u128,
            9998,
            9999,
            u128::MAX,
            u128::MAX - 1,
            1 << 64,
            (1 << 64) - 1,
            0x6969c17f8f3a331966a66d2b320c314f,
        ] {
            assert_eq!(u128::from(mod_9999(n)), n % 9999, "{n:x}");
        }
    }

    #[test]
    fn matches_flagsmith_worked_examples() {
        assert_eq!(hashed_percentage(&["78986", "32103813"]), 49.27985597119424);
        assert_eq!(
            hashed_percentage(&["78986", "test_env_foobar"]),
            54.53090618123625
        );
        // This one lands on exactly 100 at first and is re-hashed as "1,user3857,1,user3857".
        assert_eq!(hashed_percentage(&["1", "user3857"]), 35.8371674334867);
    }
}
