//! Canonical content payloads: the `Content::data` schema of each [`MessageType`].
//!
//! Dialects convert their vendor's content into these shapes when a message comes in, and
//! from them when it goes out through a different dialect. The sending dialect also keeps
//! its vendor's exact JSON in `Content::original` and echoes that back unchanged.
//! Unknown fields are kept in `extra` maps, so no conversion loses what it does not know.

use crate::model::{Content, MessageType};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `text`: the text itself; mentions appear in it as `<at id="KEY">name</at>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct TextData {
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub markdown: bool,
}

/// [`TextData`] read from a stored payload without copying its text where the text holds
/// no escapes: what renderers read a text message as.
#[derive(Debug, Deserialize)]
pub struct TextView<'a> {
    #[serde(borrow)]
    pub text: std::borrow::Cow<'a, str>,
    #[serde(default)]
    pub markdown: bool,
}

/// One inline element of rich text (`rich_text`), modelled on paragraphs of nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tag", rename_all = "snake_case")]
pub enum Node {
    Text {
        text: String,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        style: Vec<String>,
    },
    A {
        text: String,
        href: String,
    },
    /// A mention; `key` refers to the message's mention list.
    At {
        key: String,
        #[serde(default, skip_serializing_if = "String::is_empty")]
        name: String,
    },
    Img {
        key: String,
    },
    Emoji {
        text: String,
    },
    CodeBlock {
        text: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        language: Option<String>,
    },
    Hr,
}

/// `rich_text`: an optional title and paragraphs of inline nodes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct RichTextData {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub title: String,
    pub paragraphs: Vec<Vec<Node>>,
}

impl RichTextData {
    /// Plain rendition: one line per paragraph.
    pub fn plain(&self) -> String {
        let mut lines: Vec<String> = Vec::new();
        if !self.title.is_empty() {
            lines.push(self.title.clone());
        }
        for p in &self.paragraphs {
            lines.push(paragraph_plain(p));
        }
        lines.join("\n")
    }
}

/// Plain rendition of one paragraph: its line in [`RichTextData::plain`].
pub fn paragraph_plain(p: &[Node]) -> String {
    let mut line = String::new();
    for n in p {
        match n {
            Node::Text { text, .. }
            | Node::A { text, .. }
            | Node::Emoji { text }
            | Node::CodeBlock { text, .. } => line.push_str(text),
            Node::At { name, key } => {
                line.push('@');
                line.push_str(if name.is_empty() { key } else { name });
            }
            Node::Img { .. } => line.push_str("[image]"),
            Node::Hr => line.push_str("---"),
        }
    }
    line
}

/// `image`, `file`, `audio`, `video`, `sticker`: a stored object and what is known of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MediaData {
    /// Storage key of the object; may be empty when only a URL is known.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub key: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// MIME type or vendor format name (`image/png`, `wav`, `mp4`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub format: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub url: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub md5: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub ext: String,
    /// Thumbnail (image) or cover (video) storage key.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub cover_key: String,
    /// Vendor fields with no canonical home (codec, sample rate, cloud file ids ...).
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub extra: Map<String, Value>,
}

/// `location`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct LocationData {
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub address: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// `card`: the card JSON as the sender gave it. Cards are vendor-specific; another
/// dialect shows the card's plain `Content::text` rendition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CardData {
    pub card: Value,
}

/// `merge_forward` container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MergeForwardData {
    pub title: String,
    #[serde(default)]
    pub source_ids: Vec<i64>,
}

/// `share_chat`: a canonical chat id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareChatData {
    pub chat_id: i64,
}

/// `share_user`: a canonical user id.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareUserData {
    pub user_id: i64,
}

/// `custom`, `notification`, `robot`, `vote`, `calendar`, `meeting`, `system`, `tip`:
/// an opaque JSON payload (for `tip`, also the text).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct OpaqueData {
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub json: Value,
}

/// Checks that `data` has the canonical shape of `kind` and returns the plain-text rendition
/// (the `Content::text`) every dialect can fall back on.
pub fn validate(kind: MessageType, data: &Value) -> Result<String, String> {
    fn parse<T: serde::de::DeserializeOwned>(kind: MessageType, v: &Value) -> Result<T, String> {
        // Straight from the borrowed value: no copy of it just to read it.
        T::deserialize(v).map_err(|e| format!("{} content: {e}", kind.as_str()))
    }
    Ok(match kind {
        MessageType::Text => {
            let t: TextData = parse(kind, data)?;
            if t.text.is_empty() {
                return Err("text content: text must not be empty".into());
            }
            t.text
        }
        MessageType::RichText => {
            let r: RichTextData = parse(kind, data)?;
            if r.paragraphs.is_empty() && r.title.is_empty() {
                return Err("rich_text content: needs a title or at least one paragraph".into());
            }
            r.plain()
        }
        MessageType::Image
        | MessageType::File
        | MessageType::Audio
        | MessageType::Video
        | MessageType::Sticker => {
            let m: MediaData = parse(kind, data)?;
            if m.key.is_empty() && m.url.is_empty() {
                return Err(format!("{} content: needs a key or a url", kind.as_str()));
            }
            format!(
                "[{}]",
                if m.name.is_empty() {
                    kind.as_str()
                } else {
                    &m.name
                }
            )
        }
        MessageType::Location => {
            let l: LocationData = parse(kind, data)?;
            if !(-90.0..=90.0).contains(&l.latitude) || !(-180.0..=180.0).contains(&l.longitude) {
                return Err("location content: latitude/longitude out of range".into());
            }
            format!(
                "[location] {}",
                if l.title.is_empty() {
                    &l.address
                } else {
                    &l.title
                }
            )
        }
        MessageType::Card => {
            let c: CardData = parse(kind, data)?;
            if !c.card.is_object() {
                return Err("card content: card must be an object".into());
            }
            "[card]".into()
        }
        MessageType::MergeForward => parse::<MergeForwardData>(kind, data)?.title,
        MessageType::ShareChat => {
            parse::<ShareChatData>(kind, data)?;
            "[shared chat]".into()
        }
        MessageType::ShareUser => {
            parse::<ShareUserData>(kind, data)?;
            "[shared contact]".into()
        }
        MessageType::Tip => {
            let t: TextData = parse(kind, data)?;
            t.text
        }
        MessageType::Custom
        | MessageType::Notification
        | MessageType::Robot
        | MessageType::Vote
        | MessageType::Calendar
        | MessageType::Meeting
        | MessageType::System => {
            parse::<OpaqueData>(kind, data)?;
            format!("[{}]", kind.as_str())
        }
    })
}

/// Builds a canonical `Content` from validated `data` (no vendor original).
pub fn canonical(kind: MessageType, data: Value) -> Result<Content, String> {
    let text = validate(kind, &data)?;
    Ok(Content {
        text,
        data: data.into(),
        original: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn validates_each_family() {
        assert_eq!(
            validate(MessageType::Text, &json!({"text": "hi"})).unwrap(),
            "hi"
        );
        assert!(validate(MessageType::Text, &json!({"text": ""})).is_err());
        assert!(validate(MessageType::Text, &json!({"txt": "hi"})).is_err());
        let rt = json!({"title": "T", "paragraphs": [[{"tag": "text", "text": "a"}, {"tag": "at", "key": "1", "name": "Bob"}], [{"tag": "hr"}]]});
        assert_eq!(
            validate(MessageType::RichText, &rt).unwrap(),
            "T\na@Bob\n---"
        );
        assert!(validate(
            MessageType::RichText,
            &json!({"paragraphs": [[{"tag": "blink"}]]})
        )
        .is_err());
        assert_eq!(
            validate(MessageType::Image, &json!({"key": "k", "width": 10})).unwrap(),
            "[image]"
        );
        assert!(validate(MessageType::Image, &json!({"width": 10})).is_err());
        assert!(validate(MessageType::Image, &json!({"key": "k", "width": "wide"})).is_err());
        assert!(validate(
            MessageType::Location,
            &json!({"latitude": 91.0, "longitude": 0.0})
        )
        .is_err());
        assert!(validate(MessageType::Card, &json!({"card": "x"})).is_err());
        assert_eq!(
            validate(MessageType::Custom, &json!({"json": {"a": 1}})).unwrap(),
            "[custom]"
        );
    }
}
