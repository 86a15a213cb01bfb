//! Flagsmith's percentage hashing: MD5 of comma-joined ids, mapped onto `[0, 100)`.

use md5::{Digest, Md5};

/// The percentage in `[0, 100)` for a list of already-stringified ids.
///
/// The joined text is hashed with MD5, read as a 128-bit big-endian integer `n`, and mapped
/// to `((n mod 9999) / 9998) * 100`. Exactly 100 is re-hashed with the list repeated once more.
pub fn hashed_percentage(ids: &[&str], scratch: &mut String) -> f64 {
    let mut iterations = 1;
    loop {
        scratch.clear();
        for round in 0..iterations {
            for (i, id) in ids.iter().enumerate() {
                if round > 0 || i > 0 {
                    scratch.push(',');
                }
                scratch.push_str(id);
            }
        }
        let digest = Md5::digest(scratch.as_bytes());
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest);
        let remainder = u128::from_be_bytes(bytes) % 9999;
        // Same operation order as Python for bit-identical results.
        let value = (remainder as f64 / 9998.0) * 100.0;
        if value != 100.0 {
            return value;
        }
        iterations += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_flagsmith_worked_examples() {
        let mut scratch = String::new();
        assert_eq!(
            hashed_percentage(&["78986", "32103813"], &mut scratch),
            49.27985597119424
        );
        assert_eq!(
            hashed_percentage(&["78986", "test_env_foobar"], &mut scratch),
            54.53090618123625
        );
        // This one lands on exactly 100 at first and is re-hashed as "1,user3857,1,user3857".
        assert_eq!(
            hashed_percentage(&["1", "user3857"], &mut scratch),
            35.8371674334867
        );
    }
}
