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

/// Four `u32` lanes with element-wise operations written out, so the compiler keeps them in
/// one vector register.
#[derive(Clone, Copy)]
struct Lanes([u32; LANES]);

impl Lanes {
    #[inline(always)]
    fn map2(self, other: Self, op: impl Fn(u32, u32) -> u32) -> Self {
        let (x, y) = (self.0, other.0);
        Self([
            op(x[0], y[0]),
            op(x[1], y[1]),
            op(x[2], y[2]),
            op(x[3], y[3]),
        ])
    }

    #[inline(always)]
    fn add(self, other: Self) -> Self {
        self.map2(other, u32::wrapping_add)
    }

    #[inline(always)]
    fn and(self, other: Self) -> Self {
        self.map2(other, |x, y| x & y)
    }

    #[inline(always)]
    fn or(self, other: Self) -> Self {
        self.map2(other, |x, y| x | y)
    }

    #[inline(always)]
    fn xor(self, other: Self) -> Self {
        self.map2(other, |x, y| x ^ y)
    }

    #[inline(always)]
    fn not(self) -> Self {
        let x = self.0;
        Self([!x[0], !x[1], !x[2], !x[3]])
    }

    #[inline(always)]
    fn rotate_left(self, by: u32) -> Self {
        self.map2(self, |x, _| x.rotate_left(by))
    }

    #[inline(always)]
    fn splat(value: u32) -> Self {
        Self([value; LANES])
    }
}

/// One MD5 block in each of four lanes, computed side by side: every step is written out
/// (RFC 1321's constants inline) so the four lanes run in one vector register.
fn md5_lanes(blocks: &[[u8; 64]; LANES]) -> [u128; LANES] {
    let mut words = [Lanes([0; LANES]); 16];
    for (i, word) in words.iter_mut().enumerate() {
        for (lane, block) in blocks.iter().enumerate() {
            let at = i * 4;
            word.0[lane] =
                u32::from_le_bytes([block[at], block[at + 1], block[at + 2], block[at + 3]]);
        }
    }
    let f = |x: Lanes, y: Lanes, z: Lanes| x.and(y).or(x.not().and(z));
    let g = |x: Lanes, y: Lanes, z: Lanes| x.and(z).or(y.and(z.not()));
    let h = |x: Lanes, y: Lanes, z: Lanes| x.xor(y).xor(z);
    let i = |x: Lanes, y: Lanes, z: Lanes| y.xor(x.or(z.not()));
    let mut a = Lanes::splat(INITIAL_STATE[0]);
    let mut b = Lanes::splat(INITIAL_STATE[1]);
    let mut c = Lanes::splat(INITIAL_STATE[2]);
    let mut d = Lanes::splat(INITIAL_STATE[3]);
    macro_rules! step {
        ($fun:ident, $a:ident, $b:ident, $c:ident, $d:ident, $k:expr, $s:expr, $w:expr) => {
            let sum = $a
                .add($fun($b, $c, $d))
                .add(Lanes::splat($k))
                .add(words[$w]);
            $a = $b.add(sum.rotate_left($s));
        };
    }
    step!(f, a, b, c, d, 0xd76aa478, 7, 0);
    step!(f, d, a, b, c, 0xe8c7b756, 12, 1);
    step!(f, c, d, a, b, 0x242070db, 17, 2);
    step!(f, b, c, d, a, 0xc1bdceee, 22, 3);
    step!(f, a, b, c, d, 0xf57c0faf, 7, 4);
    step!(f, d, a, b, c, 0x4787c62a, 12, 5);
    step!(f, c, d, a, b, 0xa8304613, 17, 6);
    step!(f, b, c, d, a, 0xfd469501, 22, 7);
    step!(f, a, b, c, d, 0x698098d8, 7, 8);
    step!(f, d, a, b, c, 0x8b44f7af, 12, 9);
    step!(f, c, d, a, b, 0xffff5bb1, 17, 10);
    step!(f, b, c, d, a, 0x895cd7be, 22, 11);
    step!(f, a, b, c, d, 0x6b901122, 7, 12);
    step!(f, d, a, b, c, 0xfd987193, 12, 13);
    step!(f, c, d, a, b, 0xa679438e, 17, 14);
    step!(f, b, c, d, a, 0x49b40821, 22, 15);
    step!(g, a, b, c, d, 0xf61e2562, 5, 1);
    step!(g, d, a, b, c, 0xc040b340, 9, 6);
    step!(g, c, d, a, b, 0x265e5a51, 14, 11);
    step!(g, b, c, d, a, 0xe9b6c7aa, 20, 0);
    step!(g, a, b, c, d, 0xd62f105d, 5, 5);
    step!(g, d, a, b, c, 0x02441453, 9, 10);
    step!(g, c, d, a, b, 0xd8a1e681, 14, 15);
    step!(g, b, c, d, a, 0xe7d3fbc8, 20, 4);
    step!(g, a, b, c, d, 0x21e1cde6, 5, 9);
    step!(g, d, a, b, c, 0xc33707d6, 9, 14);
    step!(g, c, d, a, b, 0xf4d50d87, 14, 3);
    step!(g, b, c, d, a, 0x455a14ed, 20, 8);
    step!(g, a, b, c, d, 0xa9e3e905, 5, 13);
    step!(g, d, a, b, c, 0xfcefa3f8, 9, 2);
    step!(g, c, d, a, b, 0x676f02d9, 14, 7);
    step!(g, b, c, d, a, 0x8d2a4c8a, 20, 12);
    step!(h, a, b, c, d, 0xfffa3942, 4, 5);
    step!(h, d, a, b, c, 0x8771f681, 11, 8);
    step!(h, c, d, a, b, 0x6d9d6122, 16, 11);
    step!(h, b, c, d, a, 0xfde5380c, 23, 14);
    step!(h, a, b, c, d, 0xa4beea44, 4, 1);
    step!(h, d, a, b, c, 0x4bdecfa9, 11, 4);
    step!(h, c, d, a, b, 0xf6bb4b60, 16, 7);
    step!(h, b, c, d, a, 0xbebfbc70, 23, 10);
    step!(h, a, b, c, d, 0x289b7ec6, 4, 13);
    step!(h, d, a, b, c, 0xeaa127fa, 11, 0);
    step!(h, c, d, a, b, 0xd4ef3085, 16, 3);
    step!(h, b, c, d, a, 0x04881d05, 23, 6);
    step!(h, a, b, c, d, 0xd9d4d039, 4, 9);
    step!(h, d, a, b, c, 0xe6db99e5, 11, 12);
    step!(h, c, d, a, b, 0x1fa27cf8, 16, 15);
    step!(h, b, c, d, a, 0xc4ac5665, 23, 2);
    step!(i, a, b, c, d, 0xf4292244, 6, 0);
    step!(i, d, a, b, c, 0x432aff97, 10, 7);
    step!(i, c, d, a, b, 0xab9423a7, 15, 14);
    step!(i, b, c, d, a, 0xfc93a039, 21, 5);
    step!(i, a, b, c, d, 0x655b59c3, 6, 12);
    step!(i, d, a, b, c, 0x8f0ccc92, 10, 3);
    step!(i, c, d, a, b, 0xffeff47d, 15, 10);
    step!(i, b, c, d, a, 0x85845dd1, 21, 1);
    step!(i, a, b, c, d, 0x6fa87e4f, 6, 8);
    step!(i, d, a, b, c, 0xfe2ce6e0, 10, 15);
    step!(i, c, d, a, b, 0xa3014314, 15, 6);
    step!(i, b, c, d, a, 0x4e0811a1, 21, 13);
    step!(i, a, b, c, d, 0xf7537e82, 6, 4);
    step!(i, d, a, b, c, 0xbd3af235, 10, 11);
    step!(i, c, d, a, b, 0x2ad7d2bb, 15, 2);
    step!(i, b, c, d, a, 0xeb86d391, 21, 9);
    let mut digests = [0u128; LANES];
    for (lane, digest) in digests.iter_mut().enumerate() {
        *digest = state_as_integer([
            INITIAL_STATE[0].wrapping_add(a.0[lane]),
            INITIAL_STATE[1].wrapping_add(b.0[lane]),
            INITIAL_STATE[2].wrapping_add(c.0[lane]),
            INITIAL_STATE[3].wrapping_add(d.0[lane]),
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
