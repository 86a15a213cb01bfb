//! `?limit=&cursor=` pagination. A cursor is opaque to clients: it encodes the sort key of
//! the last item of the previous page in the list's own order (ids, segment positions or
//! identifiers), so every item is listed exactly once across pages, whatever order ids have.

use serde::Deserialize;
use serde_json::{Value, json};

use super::ApiError;

/// `?limit=&cursor=`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    pub limit: Option<usize>,
    pub cursor: Option<String>,
}

/// What sorts a list, and so what a cursor carries.
pub trait SortKey: Ord + Sized {
    fn encode(&self) -> String;
    fn decode(text: &str) -> Option<Self>;
}

const PREFIX: &str = "c1.";

/// (major, minor): an id, or a position and an id to break ties.
impl SortKey for (u64, u64) {
    fn encode(&self) -> String {
        format!("{PREFIX}{:x}.{:x}", self.0, self.1)
    }

    fn decode(text: &str) -> Option<Self> {
        let (a, b) = text.strip_prefix(PREFIX)?.split_once('.')?;
        Some((
            u64::from_str_radix(a, 16).ok()?,
            u64::from_str_radix(b, 16).ok()?,
        ))
    }
}

/// Text keys (identifiers), hex-encoded so any text survives a query string.
impl SortKey for String {
    fn encode(&self) -> String {
        let mut out = String::from(PREFIX);
        for byte in self.as_bytes() {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }

    fn decode(text: &str) -> Option<Self> {
        let hex = text.strip_prefix(PREFIX)?;
        if hex.len() % 2 != 0 {
            return None;
        }
        let bytes: Option<Vec<u8>> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
        String::from_utf8(bytes?).ok()
    }
}

/// The sort key of a list ordered by id.
pub fn by_id(id: u32) -> (u64, u64) {
    (u64::from(id), 0)
}

impl Page {
    pub const MAX: usize = 500;
    pub const DEFAULT: usize = 100;

    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(Self::DEFAULT),
            Some(n @ 1..=Self::MAX) => Ok(n),
            Some(_) => Err(ApiError::bad_request(format!(
                "limit must be from 1 to {}",
                Self::MAX
            ))),
        }
    }

    /// Where the page starts: after this key (`None` for the first page).
    pub fn after<K: SortKey>(&self) -> Result<Option<K>, ApiError> {
        self.cursor
            .as_deref()
            .map(|c| {
                K::decode(c).ok_or_else(|| {
                    ApiError::new(
                        axum::http::StatusCode::BAD_REQUEST,
                        "invalid_cursor",
                        "cursor is not one this API gave",
                    )
                })
            })
            .transpose()
    }

    /// One page of `items` in key order after the cursor: `{"items": [...], "next_cursor"}`.
    pub fn of<K: SortKey, T: serde::Serialize>(
        &self,
        items: impl Iterator<Item = (K, T)>,
    ) -> Result<Value, ApiError> {
        let limit = self.limit()?;
        let after = self.after::<K>()?;
        let mut page: Vec<(K, T)> = items
            .filter(|(key, _)| after.as_ref().is_none_or(|a| key > a))
            .collect();
        page.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Self::render(page, limit))
    }

    /// Renders items already cut to at most `limit + 1` in key order.
    pub fn render<K: SortKey, T: serde::Serialize>(mut page: Vec<(K, T)>, limit: usize) -> Value {
        let more = page.len() > limit;
        page.truncate(limit);
        let next = if more {
            page.last().map(|(key, _)| key.encode())
        } else {
            None
        };
        let items: Vec<T> = page.into_iter().map(|(_, item)| item).collect();
        json!({"items": items, "next_cursor": next})
    }
}

#[cfg(test)]
mod tests {
    use super::SortKey;

    #[test]
    fn cursors_round_trip_and_refuse_what_this_api_did_not_give() {
        assert_eq!(<(u64, u64)>::decode(&(7, 300).encode()), Some((7, 300)));
        for text in ["user/ä?&=%", ""] {
            let key = text.to_owned();
            assert_eq!(String::decode(&key.encode()), Some(key));
        }
        for bad in ["12", "c1.zz.1", "c1.1", "c1.f", "c1.ff"] {
            assert!(<(u64, u64)>::decode(bad).is_none(), "{bad}");
        }
        assert!(String::decode("c1.f").is_none());
        assert!(String::decode("c1.ff").is_none(), "not UTF-8");
    }
}
