//! Strict JSON shapes for request bodies.

/// A nested object of a body. serde would also build a struct from a JSON array of its
/// fields in order; this refuses anything but an object.
pub struct Object<T>(pub T);

impl<'de, T: serde::de::DeserializeOwned> serde::Deserialize<'de> for Object<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = serde_json::Map::<String, serde_json::Value>::deserialize(d)?;
        serde_json::from_value(serde_json::Value::Object(map))
            .map(Object)
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::Object;

    #[derive(serde::Deserialize, Debug, PartialEq)]
    struct Pair {
        a: u32,
        b: u32,
    }

    #[test]
    fn only_objects_make_structs() {
        let Object(pair): Object<Pair> = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
        assert_eq!(pair, Pair { a: 1, b: 2 });
        assert!(
            serde_json::from_str::<Pair>("[1, 2]").is_ok(),
            "serde alone takes arrays"
        );
        assert!(serde_json::from_str::<Object<Pair>>("[1, 2]").is_err());
    }
}
