//! Small serde adapters shared by the wire types.

use indexmap::IndexMap;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::model::Scalar;

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`, via `default`).
pub fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// Reads a value from its JSON text, so that integers beyond `u64` stay exact (`serde_json`
/// would round them to floats) and floats are rounded correctly.
pub fn exact_scalar<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Scalar, D::Error> {
    let raw = Box::<RawValue>::deserialize(deserializer)?;
    Scalar::from_json_text(raw.get()).map_err(D::Error::custom)
}

/// [`exact_scalar`] for every value of an optional map (identity traits).
pub fn exact_scalar_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<IndexMap<String, Scalar>>, D::Error> {
    let Some(raw) = Option::<IndexMap<String, Box<RawValue>>>::deserialize(deserializer)? else {
        return Ok(None);
    };
    raw.into_iter()
        .map(|(name, value)| {
            let value = Scalar::from_json_text(value.get()).map_err(D::Error::custom)?;
            Ok((name, value))
        })
        .collect::<Result<IndexMap<_, _>, _>>()
        .map(Some)
}
