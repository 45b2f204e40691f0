//! [`Json`]: a JSON value kept as its text.
//!
//! A message's canonical payload and its as-received original are written once and read
//! many times, and most reads need one or two fields of them, or all of them as bytes.
//! Kept as text, a read from the store copies one string instead of building a tree of
//! maps, and a renderer parses straight into the type it needs (borrowing its strings from
//! the text) or copies the text into its answer as it is.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Error as _, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::Value;

/// A JSON value as compact text. Built from a [`Value`] (whose maps are sorted), so equal
/// values have equal text and the text is what serialising that value wrote before.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Json(Box<str>);

const NULL: &str = "null";

impl Json {
    pub fn null() -> Json {
        Json(NULL.into())
    }

    pub fn from_value(v: &Value) -> Json {
        Json(v.to_string().into_boxed_str())
    }

    /// Takes `text` as it is, trusting it to be one JSON value: for text this program
    /// wrote itself (a stored message). [`Json::parse`] and serialising still check it.
    pub fn from_trusted(text: String) -> Json {
        Json(text.into_boxed_str())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_null(&self) -> bool {
        &*self.0 == NULL
    }

    /// The value as `T`, parsed straight from the text; `T` may borrow strings from it.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> serde_json::Result<T> {
        serde_json::from_str(&self.0)
    }

    /// The value as a tree, for code that edits it or walks unknown shapes.
    pub fn to_value(&self) -> Value {
        self.parse().unwrap_or(Value::Null)
    }
}

impl Default for Json {
    fn default() -> Self {
        Json::null()
    }
}

impl From<Value> for Json {
    fn from(v: Value) -> Self {
        Json::from_value(&v)
    }
}

impl std::fmt::Debug for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::fmt::Display for Json {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Written as the JSON it holds (not as a string), checked on the way out.
impl Serialize for Json {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let raw: &RawValue = serde_json::from_str(&self.0).map_err(S::Error::custom)?;
        raw.serialize(s)
    }
}

/// Read from any value of any serde format, through a tree: only documents of the JSON form
/// that came before the stored form read a `Json` this way, inside internally tagged enums
/// too (where a raw value cannot be read). The text is the value's compact form, which is
/// what those documents hold.
impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Json::from_value(&Value::deserialize(d)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn text_is_the_sorted_compact_value_and_reads_back() {
        let j = Json::from_value(&json!({"b": 1, "a": "x\"y"}));
        assert_eq!(j.as_str(), r#"{"a":"x\"y","b":1}"#);
        assert_eq!(j.to_value(), json!({"a": "x\"y", "b": 1}));
        assert!(Json::default().is_null());
        let out = serde_json::to_string(&json!({"v": serde_json::to_value(&j).unwrap()}));
        assert_eq!(out.unwrap(), r#"{"v":{"a":"x\"y","b":1}}"#);
        #[derive(serde::Serialize, serde::Deserialize)]
        struct Holder {
            v: Json,
        }
        let h: Holder = serde_json::from_str(r#"{"v": {"b": [1, 2], "a": null}}"#).unwrap();
        assert_eq!(h.v.as_str(), r#"{"a":null,"b":[1,2]}"#);
        assert_eq!(
            serde_json::to_string(&h).unwrap(),
            r#"{"v":{"a":null,"b":[1,2]}}"#
        );
        // Inside an internally tagged enum, whose fields serde reads from a buffer.
        #[derive(serde::Deserialize)]
        #[serde(tag = "kind")]
        enum Tagged {
            One { v: Json },
        }
        let Tagged::One { v } = serde_json::from_str(r#"{"kind":"One","v":[true]}"#).unwrap();
        assert_eq!(v.as_str(), "[true]");
        assert!(serde_json::to_string(&Holder {
            v: Json::from_trusted("{".into())
        })
        .is_err());
    }
}
