//! A response body as served to SDKs: its bytes, a strong entity tag, and its compressed
//! forms. Each compressed form is made at most once per snapshot, on the first request that
//! accepts it, so a steady stream of requests costs no compression at all.

use std::io::Write;
use std::sync::OnceLock;

use sha2::Digest;

/// Bodies shorter than this are never compressed: the framing would outweigh the saving.
const MIN_COMPRESSED_LEN: usize = 256;

/// A content coding this server can send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Brotli,
    Zstd,
    Gzip,
}

impl Encoding {
    /// Preference when a client accepts several with the same quality: smallest first.
    pub const ALL: [Encoding; 3] = [Encoding::Brotli, Encoding::Zstd, Encoding::Gzip];

    /// The `Content-Encoding` token.
    pub fn token(self) -> &'static str {
        match self {
            Encoding::Brotli => "br",
            Encoding::Zstd => "zstd",
            Encoding::Gzip => "gzip",
        }
    }

    fn index(self) -> usize {
        match self {
            Encoding::Brotli => 0,
            Encoding::Zstd => 1,
            Encoding::Gzip => 2,
        }
    }
}

#[derive(Debug)]
pub struct Representation {
    pub body: bytes::Bytes,
    /// The strong entity tag of the uncompressed body, quoted: `"<32 hex digits>"`. It
    /// depends on the bytes alone, so every node and replica gives the same tag.
    pub etag: String,
    /// `ETag` header values: the plain body's, then one per coding by `Encoding::index`.
    tags: [axum::http::HeaderValue; 4],
    encoded: [OnceLock<Option<bytes::Bytes>>; 3],
}

impl Representation {
    pub fn new(body: bytes::Bytes) -> Self {
        let digest = sha2::Sha256::digest(&body);
        let mut etag = String::with_capacity(34);
        etag.push('"');
        for byte in &digest[..16] {
            etag.push_str(&format!("{byte:02x}"));
        }
        etag.push('"');
        let tag = |text: &str| {
            axum::http::HeaderValue::from_str(text)
                .unwrap_or(axum::http::HeaderValue::from_static("\"\""))
        };
        let coded = |encoding: Encoding| {
            let base = etag.trim_end_matches('"');
            tag(&format!("{base}-{}\"", encoding.token()))
        };
        let tags = [
            tag(&etag),
            coded(Encoding::Brotli),
            coded(Encoding::Zstd),
            coded(Encoding::Gzip),
        ];
        Self {
            body,
            etag,
            tags,
            encoded: Default::default(),
        }
    }

    /// The `ETag` of the body in `encoding` (or of the plain body): a strong tag must differ
    /// between content codings.
    pub fn etag_for(&self, encoding: Option<Encoding>) -> &axum::http::HeaderValue {
        &self.tags[encoding.map_or(0, |e| e.index() + 1)]
    }

    /// Whether an `If-None-Match` tag names this body in any coding (weak comparison, as
    /// RFC 9110 §13.1.2 prescribes for `If-None-Match`).
    pub fn matches(&self, tag: &str) -> bool {
        let tag = tag.trim();
        let tag = tag.strip_prefix("W/").unwrap_or(tag);
        let Some(inner) = tag.strip_prefix('"').and_then(|t| t.strip_suffix('"')) else {
            return false;
        };
        let ours = self.etag.trim_matches('"');
        match inner.strip_prefix(ours) {
            Some("") => true,
            Some(rest) => Encoding::ALL
                .iter()
                .any(|e| rest.strip_prefix('-') == Some(e.token())),
            None => false,
        }
    }

    /// The body compressed with `encoding`, made on first use; `None` when compression
    /// would not make it smaller.
    pub fn encoded(&self, encoding: Encoding) -> Option<&bytes::Bytes> {
        if self.body.len() < MIN_COMPRESSED_LEN {
            return None;
        }
        self.encoded[encoding.index()]
            .get_or_init(|| {
                let compressed = compress(&self.body, encoding)?;
                (compressed.len() < self.body.len()).then(|| bytes::Bytes::from(compressed))
            })
            .as_ref()
    }
}

/// Levels chosen for size over speed: each body is compressed once per snapshot.
fn compress(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    match encoding {
        Encoding::Gzip => {
            let mut encoder = flate2::write::GzEncoder::new(
                Vec::with_capacity(body.len() / 4),
                flate2::Compression::best(),
            );
            encoder.write_all(body).ok()?;
            encoder.finish().ok()
        }
        Encoding::Brotli => {
            let mut out = Vec::with_capacity(body.len() / 4);
            let params = brotli::enc::BrotliEncoderParams {
                quality: 9,
                lgwin: 22,
                ..Default::default()
            };
            brotli::BrotliCompress(&mut &body[..], &mut out, &params).ok()?;
            Some(out)
        }
        Encoding::Zstd => zstd::bulk::compress(body, 12).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Representation {
        let body: String = (0..200)
            .map(|i| format!("{{\"feature\":\"flag_{i}\",\"enabled\":true}},"))
            .collect();
        Representation::new(bytes::Bytes::from(body))
    }

    #[test]
    fn every_coding_round_trips_and_is_smaller() {
        let rep = sample();
        for encoding in Encoding::ALL {
            let packed = rep.encoded(encoding).expect("compressible body");
            assert!(packed.len() < rep.body.len() / 4, "{encoding:?}");
            let mut plain = Vec::new();
            match encoding {
                Encoding::Gzip => {
                    flate2::read::GzDecoder::new(&packed[..])
                        .read_to_end(&mut plain)
                        .expect("gzip");
                }
                Encoding::Brotli => {
                    brotli::Decompressor::new(&packed[..], 4096)
                        .read_to_end(&mut plain)
                        .expect("brotli");
                }
                Encoding::Zstd => {
                    plain = zstd::stream::decode_all(&packed[..]).expect("zstd");
                }
            }
            assert_eq!(plain, rep.body);
        }
    }

    #[test]
    fn small_bodies_stay_plain() {
        let rep = Representation::new(bytes::Bytes::from_static(b"[]"));
        assert!(Encoding::ALL.iter().all(|e| rep.encoded(*e).is_none()));
    }

    #[test]
    fn tags_match_in_every_coding_and_nothing_else() {
        let rep = sample();
        assert_eq!(rep.etag.len(), 34);
        assert!(rep.matches(&rep.etag));
        assert!(rep.matches(&format!("W/{}", rep.etag)));
        for encoding in Encoding::ALL {
            let tag = rep.etag_for(Some(encoding)).to_str().expect("ascii");
            assert!(rep.matches(tag), "{tag}");
            assert_ne!(tag, rep.etag);
        }
        let other = Representation::new(bytes::Bytes::from_static(b"[1]"));
        assert!(!rep.matches(&other.etag));
        assert!(!rep.matches(rep.etag.trim_matches('"')));
        assert!(!rep.matches(&format!("{}-deflate\"", rep.etag.trim_end_matches('"'))));
        assert!(!rep.matches("\"\""));
    }
}
