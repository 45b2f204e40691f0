//! Outgoing: content as a WPS reader sees it. WPS's own content is echoed; the types most
//! read are written by typed serialisers ([`ContentOut`]) straight from the decoded
//! message; every other type goes through the tree renderer (`tree`), and no type through
//! both.

use super::tree::from_canonical;
use super::FORMAT;
use serde::ser::Error as _;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use std::borrow::Cow;
use switchboard_core::content::{
    self as canon, LocationData, MediaData, Node, RichTextData, TextView,
};
use switchboard_core::model::{Content, MessageType};

/// Rewrites the keys of `<at id="KEY">` tags through `map`.
pub fn rekey_at_tags(text: &str, map: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("<at id=\"") {
        out.push_str(&rest[..start + 8]);
        let after = &rest[start + 8..];
        match after.find('"') {
            Some(q) => {
                let key = &after[..q];
                out.push_str(&map(key).unwrap_or_else(|| key.to_string()));
                rest = &after[q..];
            }
            None => {
                rest = after;
                break;
            }
        }
    }
    out.push_str(rest);
    out
}

/// How one mention of the message is shown in rich text rendered from canonical content.
pub struct MentionLook {
    pub wps_id: String,
    pub key: String,
    pub identity: Value,
}

/// Renders canonical content as WPS `(type, content)`. `wps_id` maps a canonical mention
/// key to the index WPS shows; `mention` gives a mention's identity for rich text.
pub fn outgoing<'a>(
    kind: MessageType,
    c: &'a Content,
    ctime: i64,
    wps_id: &dyn Fn(&str) -> Option<String>,
    mentions: &[MentionLook],
) -> (&'static str, ContentOut<'a>) {
    // WPS's own content is echoed as it came: its stored text, copied.
    if let Some(o) = c.original.as_ref().filter(|o| o.format == FORMAT) {
        return (kind.as_str(), ContentOut::Raw(o.value.as_str()));
    }
    match kind {
        MessageType::Text => {
            if let Ok(TextView { text, markdown }) = c.data.parse() {
                let content = if text.contains("<at id=\"") {
                    Cow::Owned(rekey_at_tags(&text, wps_id))
                } else {
                    text
                };
                let ty = if markdown { "markdown" } else { "plain" };
                return ("text", ContentOut::Text { content, ty });
            }
        }
        MessageType::RichText => {
            if let Ok(data) = c.data.parse::<RichTextData>() {
                let identities = mentions
                    .iter()
                    .map(|m| (m.key.clone(), m.identity.clone()))
                    .collect();
                return ("rich_text", ContentOut::RichText { data, identities });
            }
        }
        MessageType::Image | MessageType::Sticker => {
            let media = c.data.parse::<MediaData>().unwrap_or_default();
            let sticker = kind == MessageType::Sticker;
            return (kind.as_str(), ContentOut::Image { media, sticker });
        }
        MessageType::File => {
            let media = c.data.parse::<MediaData>().unwrap_or_default();
            // Known only by its URL, a file is a cloud file (`from_canonical`).
            if !media.key.is_empty() || media.url.is_empty() {
                return ("file", ContentOut::LocalFile(media));
            }
        }
        MessageType::Location => {
            if let Ok(l) = c.data.parse::<LocationData>() {
                return ("location", ContentOut::Location(l));
            }
        }
        // A card is shown as its sender gave it, under `card`: borrowed, not copied.
        MessageType::Card => {
            if let Ok(CardParts { card }) = c.data.parse() {
                return ("card", ContentOut::Keyed("card", card));
            }
        }
        _ => {}
    }
    // Everything else, and what the typed forms refuse (which falls back as before).
    let (ty, v) = from_canonical(kind, c, ctime);
    (ty, ContentOut::Value(Cow::Owned(v)))
}

/// The `content` of a message going out through WPS. The types most read are written
/// straight from the decoded message (text from its strings, rich text from its
/// paragraphs, media and places from their fields, a card from its stored tree): building a second
/// `Value` tree for them cost more than the rest of their rendering (allocating, copying,
/// serialising and freeing maps). Each type has one renderer: these, or the tree (`tree`) for
/// the rest. Their bytes are held by `typed_forms.txt` (edge cases) and the per-dialect
/// snapshots in `testkit/tests/snapshots/`.
#[derive(Debug)]
pub enum ContentOut<'a> {
    Value(Cow<'a, Value>),
    /// JSON text written as it is: WPS's own content, stored as it came.
    Raw(&'a str),
    /// `{"text":{"content":…,"type":"plain"|"markdown"}}`
    Text {
        content: Cow<'a, str>,
        ty: &'static str,
    },
    /// `{key: value}`, the value's stored text copied.
    Keyed(&'static str, &'a RawValue),
    /// `{"image":{…}}`, or `{"sticker":{"image":{…}}}` (without the thumbnail).
    Image {
        media: MediaData,
        sticker: bool,
    },
    /// `{"file":{"local":{name, size, storage_key},"type":"local"}}`
    LocalFile(MediaData),
    /// `{"location":{address, latitude, longitude, storage_key, title}}`
    Location(LocationData),
    /// `{"rich_text":{"elements":[…]}}`, one `nl` element per title and paragraph.
    RichText {
        data: RichTextData,
        /// Each mention's identity by its canonical key.
        identities: Vec<(String, Value)>,
    },
}

/// `{key: value}`: the one-field object around every WPS content and several of its parts.
struct One<T>(&'static str, T);

impl<T: serde::Serialize> serde::Serialize for One<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(1))?;
        m.serialize_entry(self.0, &self.1)?;
        m.end()
    }
}

// The typed parts below list their fields in alphabetical order, as a `Value` map writes
// them; empty strings and absent numbers are left out where the `Value` form leaves them
// out of its map.

/// `{content, type}` of text and of plain rich-text elements.
#[derive(serde::Serialize)]
struct Plain<'b> {
    content: &'b str,
    #[serde(rename = "type")]
    ty: &'static str,
}

/// One `nl` element of rich text.
#[derive(serde::Serialize)]
struct Paragraph<'b, E> {
    alt_text: &'b str,
    elements: E,
    indent: i64,
    index: i64,
    #[serde(rename = "type")]
    ty: &'static str,
}

/// The paragraphs of [`ContentOut::RichText`], written as they are serialised.
struct Paragraphs<'b>(&'b RichTextData, &'b [(String, Value)]);

impl serde::Serialize for Paragraphs<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let (r, ids) = (self.0, self.1);
        let mut seq = s.serialize_seq(None)?;
        let mut index = 0;
        if !r.title.is_empty() {
            seq.serialize_element(&Paragraph {
                alt_text: &r.title,
                elements: [NodeOut::Title(&r.title)],
                indent: 0,
                index,
                ty: "nl",
            })?;
            index += 1;
        }
        for p in &r.paragraphs {
            seq.serialize_element(&Paragraph {
                alt_text: &canon::paragraph_plain(p),
                elements: Nodes(p, ids),
                indent: 0,
                index,
                ty: "nl",
            })?;
            index += 1;
        }
        seq.end()
    }
}

/// The inline elements of one paragraph.
struct Nodes<'b>(&'b [Node], &'b [(String, Value)]);

impl serde::Serialize for Nodes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.0.iter().map(|n| NodeOut::Node(n, self.1)))
    }
}

/// One inline element of a rich-text paragraph (the bold title is one too).
enum NodeOut<'b> {
    Title(&'b str),
    Node(&'b Node, &'b [(String, Value)]),
}

impl serde::Serialize for NodeOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        #[derive(serde::Serialize)]
        struct Styled<'c> {
            style: Style,
            text: &'c str,
        }
        #[derive(serde::Serialize)]
        struct Style {
            bold: bool,
            #[serde(skip_serializing_if = "Option::is_none")]
            italic: Option<bool>,
        }
        #[derive(serde::Serialize)]
        struct Link<'c> {
            text: &'c str,
            url: &'c str,
        }
        #[derive(serde::Serialize)]
        struct Mention<'c> {
            identity: &'c Value,
            text: &'c str,
        }
        // Every element is `{alt_text, <kind>_content, type}`: in that (alphabetical) order.
        fn el<S: serde::Serializer, C: serde::Serialize>(
            s: S,
            alt: &str,
            key: &'static str,
            content: C,
            ty: &'static str,
        ) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(Some(3))?;
            m.serialize_entry("alt_text", alt)?;
            m.serialize_entry(key, &content)?;
            m.serialize_entry("type", ty)?;
            m.end()
        }
        let plain = |content| Plain {
            content,
            ty: "plain",
        };
        match *self {
            NodeOut::Title(t) => {
                let style = Style {
                    bold: true,
                    italic: None,
                };
                el(
                    s,
                    t,
                    "style_text_content",
                    Styled { style, text: t },
                    "text",
                )
            }
            NodeOut::Node(n, ids) => match n {
                Node::Text { text, style } if !style.is_empty() => {
                    let has = |x: &str| style.iter().any(|y| y == x);
                    let style = Style {
                        bold: has("bold"),
                        italic: Some(has("italic")),
                    };
                    el(
                        s,
                        text,
                        "style_text_content",
                        Styled { style, text },
                        "text",
                    )
                }
                Node::Text { text, .. } | Node::CodeBlock { text, .. } => {
                    el(s, text, "text_content", plain(text), "text")
                }
                Node::A { text, href } => {
                    el(s, text, "link_content", Link { text, url: href }, "link")
                }
                Node::At { key, name } => {
                    let empty = Value::Object(Map::new());
                    let identity = ids
                        .iter()
                        .find(|(k, _)| k == key)
                        .map_or(&empty, |(_, v)| v);
                    let text = format!("@{name}");
                    el(
                        s,
                        &text,
                        "mention_content",
                        Mention {
                            identity,
                            text: &text,
                        },
                        "mention",
                    )
                }
                Node::Img { key } => el(
                    s,
                    "[image]",
                    "image_content",
                    One("storage_key", key),
                    "image",
                ),
                Node::Emoji { text } => el(s, text, "text_content", plain(text), "emoji"),
                Node::Hr => el(s, "---", "text_content", plain("---"), "text"),
            },
        }
    }
}

impl serde::Serialize for ContentOut<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        struct Img<'b> {
            #[serde(skip_serializing_if = "Option::is_none")]
            height: Option<i64>,
            #[serde(skip_serializing_if = "str::is_empty")]
            name: &'b str,
            #[serde(skip_serializing_if = "Option::is_none")]
            size: Option<i64>,
            storage_key: &'b str,
            #[serde(skip_serializing_if = "str::is_empty")]
            thumbnail_storage_key: &'b str,
            #[serde(skip_serializing_if = "Option::is_none")]
            thumbnail_type: Option<&'b Value>,
            #[serde(rename = "type", skip_serializing_if = "str::is_empty")]
            ty: &'b str,
            #[serde(skip_serializing_if = "Option::is_none")]
            width: Option<i64>,
        }
        #[derive(serde::Serialize)]
        struct File<'b> {
            local: Local<'b>,
            #[serde(rename = "type")]
            ty: &'static str,
        }
        #[derive(serde::Serialize)]
        struct Local<'b> {
            name: &'b str,
            #[serde(skip_serializing_if = "Option::is_none")]
            size: Option<i64>,
            storage_key: &'b str,
        }
        #[derive(serde::Serialize)]
        struct Place<'b> {
            address: &'b str,
            latitude: f64,
            longitude: f64,
            storage_key: &'static str,
            title: &'b str,
        }
        match self {
            ContentOut::Value(v) => v.serialize(s),
            ContentOut::Raw(text) => {
                // Stored text, which this server wrote as one JSON value; checked as it is
                // copied, so a damaged row is an error rather than broken output.
                let raw: &RawValue = serde_json::from_str(text).map_err(S::Error::custom)?;
                raw.serialize(s)
            }
            ContentOut::Text { content, ty } => One("text", Plain { content, ty }).serialize(s),
            ContentOut::Keyed(key, value) => One(key, value).serialize(s),
            ContentOut::RichText { data, identities } => {
                One("rich_text", One("elements", Paragraphs(data, identities))).serialize(s)
            }
            ContentOut::Image { media: m, sticker } => {
                let img = Img {
                    height: m.height,
                    name: &m.name,
                    size: m.size,
                    storage_key: &m.key,
                    thumbnail_storage_key: if *sticker { "" } else { &m.cover_key },
                    thumbnail_type: m.extra.get("thumbnail_type").filter(|_| !*sticker),
                    ty: &m.format,
                    width: m.width,
                };
                if *sticker {
                    One("sticker", One("image", img)).serialize(s)
                } else {
                    One("image", img).serialize(s)
                }
            }
            ContentOut::LocalFile(m) => One(
                "file",
                File {
                    local: Local {
                        name: &m.name,
                        size: m.size,
                        storage_key: &m.key,
                    },
                    ty: "local",
                },
            )
            .serialize(s),
            ContentOut::Location(l) => One(
                "location",
                Place {
                    address: &l.address,
                    latitude: l.latitude,
                    longitude: l.longitude,
                    storage_key: "",
                    title: &l.title,
                },
            )
            .serialize(s),
        }
    }
}

/// A card's payload, the card's text borrowed.
#[derive(Deserialize)]
struct CardParts<'a> {
    #[serde(borrow)]
    card: &'a RawValue,
}
