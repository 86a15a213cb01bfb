//! Small serde adapters shared by the wire types.

use serde::{Deserialize, Deserializer};

/// Tells an explicit `null` (`Some(None)`) from an absent field (`None`, via `default`).
pub fn present_or_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
