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

/// [`hashed_percentage`] for up to [`LANES`] `[a, b]` pairs at once: MD5 is one long
/// dependency chain, so interleaving independent hashes runs them in parallel lanes.
pub fn hashed_percentages(pairs: &[[&str; 2]]) -> [f64; LANES] {
    debug_assert!(pairs.len() <= LANES);
    let mut blocks = [[0u8; 64]; LANES];
    let mut fits = [false; LANES];
    for (lane, pair) in pairs.iter().take(LANES).enumerate() {
        let len = pair[0].len() + 1 + pair[1].len();
        fits[lane] = len <= 55;
        if fits[lane] {
            let block = &mut blocks[lane];
            block[..pair[0].len()].copy_from_slice(pair[0].as_bytes());
            block[pair[0].len()] = b',';
            block[pair[0].len() + 1..len].copy_from_slice(pair[1].as_bytes());
            pad_single_block(block, len);
        }
    }
    let digests = md5_lanes(&blocks);
    let mut out = [0.0; LANES];
    for (lane, pair) in pairs.iter().take(LANES).enumerate() {
        let value = if fits[lane] {
            percentage_of(digests[lane])
        } else {
            100.0
        };
        // Long inputs, and the rare exact 100 that Flagsmith re-hashes, take the plain path.
        out[lane] = if value == 100.0 {
            hashed_percentage(pair)
        } else {
            value
        };
    }
    out
}

/// `((n mod 9999) / 9998) * 100`, in Python's operation order.
fn percentage_of(n: u128) -> f64 {
    (mod_9999(n) as f64 / 9998.0) * 100.0
}

/// How many hashes [`hashed_percentages`] computes side by side.
pub const LANES: usize = 4;

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

const INITIAL_STATE: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// Pads a message of `len` (at most 55) bytes at the start of `block` into one MD5 block.
fn pad_single_block(block: &mut [u8; 64], len: usize) {
    block[len] = 0x80;
    block[56..].copy_from_slice(&(len as u64 * 8).to_le_bytes());
}

/// The digest (state words in little-endian order) as one big-endian number.
fn state_as_integer(state: [u32; 4]) -> u128 {
    state
        .iter()
        .fold(0u128, |n, word| (n << 32) | u128::from(word.swap_bytes()))
}

/// Per-step left-rotation amounts and additive constants of MD5 (RFC 1321).
const SHIFTS: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// `floor(abs(sin(i + 1)) * 2^32)`.
const CONSTANTS: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

/// One MD5 block in each of four lanes, computed side by side so the compiler can run the
/// lanes in one vector register.
fn md5_lanes(blocks: &[[u8; 64]; LANES]) -> [u128; LANES] {
    let mut words = [[0u32; LANES]; 16];
    for (i, word) in words.iter_mut().enumerate() {
        for (lane, block) in blocks.iter().enumerate() {
            let at = i * 4;
            word[lane] =
                u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
        }
    }
    let mut a = [INITIAL_STATE[0]; LANES];
    let mut b = [INITIAL_STATE[1]; LANES];
    let mut c = [INITIAL_STATE[2]; LANES];
    let mut d = [INITIAL_STATE[3]; LANES];
    for step in 0..64 {
        let (g, round) = match step / 16 {
            0 => (step, 0),
            1 => ((5 * step + 1) % 16, 1),
            2 => ((3 * step + 5) % 16, 2),
            _ => ((7 * step) % 16, 3),
        };
        let mut next_b = [0u32; LANES];
        for lane in 0..LANES {
            let (x, y, z) = (b[lane], c[lane], d[lane]);
            let f = match round {
                0 => (x & y) | (!x & z),
                1 => (x & z) | (y & !z),
                2 => x ^ y ^ z,
                _ => y ^ (x | !z),
            };
            let sum = a[lane]
                .wrapping_add(f)
                .wrapping_add(CONSTANTS[step])
                .wrapping_add(words[g][lane]);
            next_b[lane] = x.wrapping_add(sum.rotate_left(SHIFTS[step]));
        }
        a = d;
        d = c;
        c = b;
        b = next_b;
    }
    let mut digests = [0u128; LANES];
    for (lane, digest) in digests.iter_mut().enumerate() {
        *digest = state_as_integer([
            INITIAL_STATE[0].wrapping_add(a[lane]),
            INITIAL_STATE[1].wrapping_add(b[lane]),
            INITIAL_STATE[2].wrapping_add(c[lane]),
            INITIAL_STATE[3].wrapping_add(d[lane]),
        ]);
    }
    digests
}

/// MD5 of the first `len` (at most 55) bytes of `block`, padded in place.
fn md5_single_block(mut block: [u8; 64], len: usize) -> u128 {
    pad_single_block(&mut block, len);
    let mut state = INITIAL_STATE;
    md5::block_api::compress(&mut state, &[block]);
    state_as_integer(state)
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
    fn four_lane_md5_matches_the_plain_one() {
        let ids: Vec<String> = (0..23).map(|i| "x".repeat(i * 3)).collect();
        let pairs: Vec<[&str; 2]> = ids.iter().map(|id| ["78986", id.as_str()]).collect();
        for chunk in pairs.chunks(LANES) {
            let out = hashed_percentages(chunk);
            for (pair, value) in chunk.iter().zip(out) {
                assert_eq!(value, hashed_percentage(pair), "{pair:?}");
            }
        }
        // Including the pair that hits exactly 100 and is re-hashed.
        let out = hashed_percentages(&[["1", "user3857"], ["78986", "32103813"]]);
        assert_eq!(out[..2], [35.8371674334867, 49.27985597119424]);
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
