//! Encoding of stored values: one format-version byte, then postcard.
//!
//! A value written by a newer format is refused with a clear error, never misread. When a
//! record's shape changes, bump [`FORMAT_VERSION`] and decode older bytes through the
//! previous shape (garage's `Migrate` pattern).

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::StoreError;

/// The current format of every stored value.
pub const FORMAT_VERSION: u8 = 1;

pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, StoreError> {
    let mut bytes = vec![FORMAT_VERSION];
    bytes.extend(postcard::to_stdvec(value).map_err(|e| StoreError::Encode(e.to_string()))?);
    Ok(bytes)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, StoreError> {
    match bytes.split_first() {
        Some((&FORMAT_VERSION, rest)) => {
            postcard::from_bytes(rest).map_err(|e| StoreError::Corrupt(e.to_string()))
        }
        Some((&version, _)) if version > FORMAT_VERSION => Err(StoreError::NewerFormat {
            found: u32::from(version),
            supported: u32::from(FORMAT_VERSION),
        }),
        Some((&version, _)) => Err(StoreError::Corrupt(format!(
            "unknown format version {version}"
        ))),
        None => Err(StoreError::Corrupt("empty value".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::records::{StoredValue, VariantWeightRecord};

    #[test]
    fn round_trips_and_refuses_newer_formats() {
        let value = (
            StoredValue::Float(1.5),
            vec![VariantWeightRecord {
                option_id: 3,
                weight: 30.0,
            }],
        );
        let bytes = encode(&value).unwrap();
        assert_eq!(bytes[0], FORMAT_VERSION);
        let back: (StoredValue, Vec<VariantWeightRecord>) = decode(&bytes).unwrap();
        assert_eq!(back, value);
        let mut newer = bytes;
        newer[0] = FORMAT_VERSION + 1;
        assert!(matches!(
            decode::<(StoredValue, Vec<VariantWeightRecord>)>(&newer),
            Err(StoreError::NewerFormat { .. })
        ));
        assert!(decode::<StoredValue>(&[]).is_err());
    }
}
