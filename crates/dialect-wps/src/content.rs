//! WPS message content <-> canonical content (`switchboard_core::content`).
//!
//! Incoming content is validated against the WPS schema of its type, converted to the
//! canonical `data`, and kept verbatim in `original` (format [`FORMAT`]) so that WPS clients
//! read back exactly what they sent. Content sent through another face is rendered from
//! the canonical `data`.
//!
//! Schemas: <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/message-content-description.html>

use crate::error::{code, WResult, WpsError};
use crate::ids;
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::borrow::Cow;
use switchboard_core::content::{
    self as canon, CardData, LocationData, MediaData, MergeForwardData, Node, OpaqueData,
    RichTextData, TextData,
};
use switchboard_core::ids::MessageId;
use switchboard_core::model::{Content, MessageType, OriginalContent};

/// The `original.format` tag of content received through this dialect.
pub const FORMAT: &str = "wps";

/// The types `messages/create` accepts.
pub const SENDABLE: [MessageType; 7] = [
    MessageType::Text,
    MessageType::RichText,
    MessageType::Image,
    MessageType::File,
    MessageType::Audio,
    MessageType::Video,
    MessageType::Card,
];

/// The types a reply may have (reply API).
pub const REPLYABLE: [MessageType; 3] =
    [MessageType::Text, MessageType::RichText, MessageType::Image];

/// A mention as it arrives, in the request's `mentions[]` or inside rich text.
#[derive(Debug, Clone, Deserialize)]
pub struct WireMention {
    /// The index that `<at id="N">` in the text refers to.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub identity: Option<WireIdentity>,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct WireIdentity {
    #[serde(default)]
    pub company_id: String,
    #[serde(default)]
    pub id: String,
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
}

/// Converted incoming content.
#[derive(Debug)]
pub struct Incoming {
    pub content: Content,
    /// Mentions found in rich-text elements, keyed after the request's own.
    pub inline_mentions: Vec<WireMention>,
}

/// Parses a message `type` this dialect knows for sending.
pub fn sendable_type(s: &str) -> WResult<MessageType> {
    MessageType::parse(s)
        .filter(|t| SENDABLE.contains(t))
        .ok_or_else(|| {
            WpsError::invalid(format!(
                "type must be one of text, rich_text, image, file, audio, video, card; not {s:?}"
            ))
        })
}

fn bad(msg: impl Into<String>) -> WpsError {
    WpsError::invalid(msg)
}

fn object<'a>(v: &'a Value, what: &str) -> WResult<&'a Map<String, Value>> {
    v.as_object()
        .ok_or_else(|| bad(format!("{what} must be an object")))
}

fn string(m: &Map<String, Value>, what: &str, key: &str, required: bool) -> WResult<String> {
    match m.get(key) {
        None | Some(Value::Null) if !required => Ok(String::new()),
        Some(Value::String(s)) if !(required && s.is_empty()) => Ok(s.clone()),
        _ if required => Err(bad(format!(
            "{what}.{key} is required and must be a non-empty string"
        ))),
        _ => Err(bad(format!("{what}.{key} must be a string"))),
    }
}

fn int(m: &Map<String, Value>, what: &str, key: &str) -> WResult<Option<i64>> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_i64()
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| bad(format!("{what}.{key} must be a non-negative integer"))),
    }
}

fn put_str(extra: &mut Map<String, Value>, key: &str, v: String) {
    if !v.is_empty() {
        extra.insert(key.into(), Value::String(v));
    }
}

fn put_int(extra: &mut Map<String, Value>, key: &str, v: Option<i64>) {
    if let Some(n) = v {
        extra.insert(key.into(), json!(n));
    }
}

/// Converts a WPS `content` object of type `kind`. `taken` are the request's mention ids,
/// which rich-text mentions must not reuse; `max_chars` bounds text and rich text.
pub fn incoming(
    kind: MessageType,
    content: &Value,
    taken: &[String],
    max_chars: usize,
) -> WResult<Incoming> {
    let outer = object(content, "content")?;
    let name = kind.as_str();
    if outer.len() != 1 || !outer.contains_key(name) {
        return Err(bad(format!(
            "content must hold exactly one key, \"{name}\", matching type"
        )));
    }
    let body = object(&outer[name], &format!("content.{name}"))?;
    let what = format!("content.{name}");
    let mut inline_mentions = Vec::new();
    let data = match kind {
        MessageType::Text => {
            let text = string(body, &what, "content", true)?;
            let markdown = match string(body, &what, "type", false)?.as_str() {
                "" | "plain" => false,
                "markdown" => true,
                other => {
                    return Err(bad(format!(
                        "{what}.type must be plain or markdown, not {other:?}"
                    )))
                }
            };
            serde_json::to_value(TextData { text, markdown }).expect("serialisable")
        }
        MessageType::RichText => {
            let (data, found) = rich_text_in(body, taken)?;
            inline_mentions = found;
            serde_json::to_value(data).expect("serialisable")
        }
        MessageType::Image => {
            let mut extra = Map::new();
            put_str(
                &mut extra,
                "thumbnail_type",
                string(body, &what, "thumbnail_type", false)?,
            );
            media(MediaData {
                key: string(body, &what, "storage_key", true)?,
                name: string(body, &what, "name", false)?,
                format: string(body, &what, "type", false)?,
                size: int(body, &what, "size")?,
                width: int(body, &what, "width")?,
                height: int(body, &what, "height")?,
                cover_key: string(body, &what, "thumbnail_storage_key", false)?,
                extra,
                ..MediaData::default()
            })
        }
        MessageType::File => {
            match string(body, &what, "type", true)?.as_str() {
                "local" => {}
                "cloud" => {
                    return Err(bad(
                        "cloud files cannot be sent; send a local file (type \"local\")",
                    ))
                }
                other => return Err(bad(format!("{what}.type must be local, not {other:?}"))),
            }
            let local = object(
                body.get("local").unwrap_or(&Value::Null),
                &format!("{what}.local"),
            )?;
            let lw = format!("{what}.local");
            media(MediaData {
                key: string(local, &lw, "storage_key", true)?,
                name: string(local, &lw, "name", false)?,
                size: int(local, &lw, "size")?,
                ..MediaData::default()
            })
        }
        MessageType::Audio | MessageType::Video => {
            let key = string(body, &what, "storage_key", true)?;
            let empty = Map::new();
            let mw = format!("{what}.media");
            let m = match body.get("media") {
                None | Some(Value::Null) => &empty,
                Some(v) => object(v, &mw)?,
            };
            let mut extra = Map::new();
            put_str(&mut extra, "codec", string(m, &mw, "codec", false)?);
            let mut d = MediaData {
                key,
                format: string(m, &mw, "format", false)?,
                size: int(m, &mw, "size")?,
                duration_ms: int(m, &mw, "duration")?.map(|s| s.saturating_mul(1000)),
                ..MediaData::default()
            };
            if kind == MessageType::Audio {
                for k in ["channels", "sample_bits", "sample_rate"] {
                    put_int(&mut extra, k, int(m, &mw, k)?);
                }
            } else {
                d.width = int(m, &mw, "width")?;
                d.height = int(m, &mw, "height")?;
                d.cover_key = string(m, &mw, "cover_storage_key", false)?;
            }
            d.extra = extra;
            media(d)
        }
        MessageType::Card => {
            if !body.get("config").is_some_and(Value::is_object) {
                return Err(bad(format!(
                    "{what}.config is required and must be an object"
                )));
            }
            if !body.get("i18n_items").is_some_and(Value::is_array) {
                return Err(bad(format!(
                    "{what}.i18n_items is required and must be an array"
                )));
            }
            if body
                .get("link")
                .is_some_and(|l| !l.is_object() && !l.is_null())
            {
                return Err(bad(format!("{what}.link must be an object")));
            }
            serde_json::to_value(CardData {
                card: Value::Object(body.clone()),
            })
            .expect("serialisable")
        }
        other => return Err(bad(format!("type {} cannot be sent", other.as_str()))),
    };
    let mut c = canon::canonical(kind, data).map_err(bad)?;
    if matches!(kind, MessageType::Text | MessageType::RichText)
        && c.text.chars().count() > max_chars
    {
        return Err(WpsError::new(
            StatusCode::BAD_REQUEST,
            code::CONTENT_TOO_LONG,
            format!("message content exceeds {max_chars} characters"),
        ));
    }
    c.original = Some(OriginalContent {
        format: FORMAT.into(),
        value: content.clone(),
    });
    Ok(Incoming {
        content: c,
        inline_mentions,
    })
}

fn media(d: MediaData) -> Value {
    serde_json::to_value(d).expect("serialisable")
}

const BLOCKS: [&str; 3] = ["nl", "ol", "ul"];

/// Rich text: each `nl`/`ol`/`ul` element becomes a paragraph of its children; runs of
/// inline elements between blocks form paragraphs of their own.
fn rich_text_in(
    body: &Map<String, Value>,
    taken: &[String],
) -> WResult<(RichTextData, Vec<WireMention>)> {
    let elements = body
        .get("elements")
        .and_then(Value::as_array)
        .filter(|a| !a.is_empty())
        .ok_or_else(|| {
            bad("content.rich_text.elements is required and must be a non-empty array")
        })?;
    let mut next_key = taken
        .iter()
        .filter_map(|k| k.parse::<u64>().ok())
        .max()
        .unwrap_or(0)
        + 1;
    let mut mentions = Vec::new();
    let mut paragraphs: Vec<Vec<Node>> = Vec::new();
    let mut open: Option<Vec<Node>> = None;
    for (i, el) in elements.iter().enumerate() {
        let what = format!("content.rich_text.elements[{i}]");
        let m = object(el, &what)?;
        let ty = string(m, &what, "type", true)?;
        if BLOCKS.contains(&ty.as_str()) {
            if let Some(p) = open.take() {
                paragraphs.push(p);
            }
            let mut p = Vec::new();
            inline(m, &what, &ty, &mut p, &mut mentions, &mut next_key, taken)?;
            paragraphs.push(p);
        } else {
            let p = open.get_or_insert_with(Vec::new);
            inline(m, &what, &ty, p, &mut mentions, &mut next_key, taken)?;
        }
    }
    if let Some(p) = open.take() {
        paragraphs.push(p);
    }
    Ok((
        RichTextData {
            title: String::new(),
            paragraphs,
        },
        mentions,
    ))
}

fn inline(
    m: &Map<String, Value>,
    what: &str,
    ty: &str,
    out: &mut Vec<Node>,
    mentions: &mut Vec<WireMention>,
    next_key: &mut u64,
    taken: &[String],
) -> WResult<()> {
    let alt = string(m, what, "alt_text", false)?;
    let sub = |key: &str| -> WResult<Option<&Map<String, Value>>> {
        match m.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => object(v, &format!("{what}.{key}")).map(Some),
        }
    };
    match ty {
        "text" | "nl" | "ol" | "ul" => {
            if let Some(t) = sub("text_content")? {
                let text = string(t, what, "content", false)?;
                if !text.is_empty() {
                    out.push(Node::Text {
                        text,
                        style: vec![],
                    });
                }
            } else if let Some(t) = sub("style_text_content")? {
                let text = string(t, what, "text", false)?;
                let mut style = Vec::new();
                if let Some(s) = t.get("style").and_then(Value::as_object) {
                    for k in ["bold", "italic"] {
                        if s.get(k).and_then(Value::as_bool) == Some(true) {
                            style.push(k.to_string());
                        }
                    }
                }
                if !text.is_empty() {
                    out.push(Node::Text { text, style });
                }
            } else if ty == "text" {
                if alt.is_empty() {
                    return Err(bad(format!(
                        "{what}: a text element needs text_content, style_text_content or alt_text"
                    )));
                }
                out.push(Node::Text {
                    text: alt.clone(),
                    style: vec![],
                });
            }
        }
        "emoji" | "custom_emoji" => {
            let text = match sub("text_content")? {
                Some(t) => string(t, what, "content", false)?,
                None => String::new(),
            };
            out.push(Node::Emoji {
                text: if text.is_empty() { alt.clone() } else { text },
            });
        }
        "mention" => {
            let mc = sub("mention_content")?
                .ok_or_else(|| bad(format!("{what}.mention_content is required")))?;
            let identity: Option<WireIdentity> = match mc.get("identity") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let i: WireIdentity = serde_json::from_value(v.clone())
                        .map_err(|e| bad(format!("{what}.mention_content.identity: {e}")))?;
                    (!i.id.is_empty()).then_some(i)
                }
            };
            let text = string(mc, what, "text", false)?;
            let mut key = next_key.to_string();
            while taken.contains(&key) {
                *next_key += 1;
                key = next_key.to_string();
            }
            *next_key += 1;
            let name = identity
                .as_ref()
                .map(|i| i.name.clone())
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| text.trim_start_matches('@').to_string());
            let kind = if identity.is_some() { "user" } else { "all" };
            mentions.push(WireMention {
                id: key.clone(),
                kind: kind.into(),
                identity,
            });
            out.push(Node::At { key, name });
        }
        "image" => {
            let ic = sub("image_content")?
                .ok_or_else(|| bad(format!("{what}.image_content is required")))?;
            out.push(Node::Img {
                key: string(ic, &format!("{what}.image_content"), "storage_key", true)?,
            });
        }
        "link" => {
            let lc = sub("link_content")?
                .ok_or_else(|| bad(format!("{what}.link_content is required")))?;
            let lw = format!("{what}.link_content");
            let href = string(lc, &lw, "url", true)?;
            let text = string(lc, &lw, "text", false)?;
            out.push(Node::A {
                text: if text.is_empty() { href.clone() } else { text },
                href,
            });
        }
        "doc" => {
            let dc = sub("doc_content")?
                .ok_or_else(|| bad(format!("{what}.doc_content is required")))?;
            let file = dc.get("file").and_then(Value::as_object);
            let href = file
                .and_then(|f| f.get("link_url"))
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let text = string(dc, what, "text", false)?;
            out.push(Node::A {
                text: if text.is_empty() { alt.clone() } else { text },
                href,
            });
        }
        other => {
            return Err(bad(format!(
                "{what}.type {other:?} is not a rich_text element type"
            )))
        }
    }
    if let Some(children) = m.get("elements") {
        let arr = children
            .as_array()
            .ok_or_else(|| bad(format!("{what}.elements must be an array")))?;
        for (j, child) in arr.iter().enumerate() {
            let cw = format!("{what}.elements[{j}]");
            let cm = object(child, &cw)?;
            let cty = string(cm, &cw, "type", true)?;
            inline(cm, &cw, &cty, out, mentions, next_key, taken)?;
        }
    }
    Ok(())
}

/// Names given to mentions in text: `<at id="N">name</at>` -> (N, name).
pub fn at_tags(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("<at id=\"") {
        let after = &rest[start + 8..];
        let Some(q) = after.find('"') else { break };
        let key = &after[..q];
        let Some(body) = after[q + 1..].strip_prefix('>') else {
            rest = &after[q + 1..];
            continue;
        };
        let Some(end) = body.find("</at>") else { break };
        out.push((key.to_string(), body[..end].to_string()));
        rest = &body[end + 5..];
    }
    out
}

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
    // WPS's own content is echoed as it came: borrowed, since a copy of the tree would
    // be serialised once and dropped.
    if let Some(o) = c.original.as_ref().filter(|o| o.format == FORMAT) {
        return (kind.as_str(), ContentOut::Value(Cow::Borrowed(&o.value)));
    }
    match kind {
        MessageType::Text => {
            if let Some((text, markdown)) = text_parts(&c.data) {
                let content = if text.contains("<at id=\"") {
                    Cow::Owned(rekey_at_tags(text, wps_id))
                } else {
                    Cow::Borrowed(text)
                };
                let ty = if markdown { "markdown" } else { "plain" };
                return ("text", ContentOut::Text { content, ty });
            }
        }
        MessageType::RichText => {
            if let Ok(data) = RichTextData::deserialize(&c.data) {
                let identities = mentions
                    .iter()
                    .map(|m| (m.key.clone(), m.identity.clone()))
                    .collect();
                return ("rich_text", ContentOut::RichText { data, identities });
            }
        }
        MessageType::Image | MessageType::Sticker => {
            let media = MediaData::deserialize(&c.data).unwrap_or_default();
            let sticker = kind == MessageType::Sticker;
            return (kind.as_str(), ContentOut::Image { media, sticker });
        }
        MessageType::File => {
            let media = MediaData::deserialize(&c.data).unwrap_or_default();
            // Known only by its URL, a file is a cloud file (`from_canonical`).
            if !media.key.is_empty() || media.url.is_empty() {
                return ("file", ContentOut::LocalFile(media));
            }
        }
        MessageType::Location => {
            if let Ok(l) = LocationData::deserialize(&c.data) {
                return ("location", ContentOut::Location(l));
            }
        }
        // A card is shown as its sender gave it, under `card`: borrowed, not copied.
        MessageType::Card => {
            if let Some(card) = c.data.as_object().and_then(|o| o.get("card")) {
                return ("card", ContentOut::Keyed("card", card));
            }
        }
        _ => {}
    }
    // Everything else, and what the typed forms refuse (which falls back as before).
    let (ty, v) = from_canonical(kind, c, ctime, wps_id, mentions);
    (ty, ContentOut::Value(Cow::Owned(v)))
}

/// The `content` of a message going out through WPS. The types most read are written
/// straight from the decoded message (text from its strings, rich text from its
/// paragraphs, media and places from their fields, a card from its stored tree): building a second
/// `Value` tree for them cost more than the rest of their rendering (allocating, copying,
/// serialising and freeing maps). Both forms serialise to the same bytes
/// (`typed_content_is_byte_for_byte_the_value_form`).
#[derive(Debug)]
pub enum ContentOut<'a> {
    Value(Cow<'a, Value>),
    /// `{"text":{"content":…,"type":"plain"|"markdown"}}`
    Text {
        content: Cow<'a, str>,
        ty: &'static str,
    },
    /// `{key: value}`
    Keyed(&'static str, &'a Value),
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

/// `(text, markdown)` of canonical text content, exactly when `TextData::deserialize`
/// would accept it (a string `text`; `markdown` absent or a bool; other fields ignored).
fn text_parts(d: &Value) -> Option<(&str, bool)> {
    let o = d.as_object()?;
    let text = o.get("text")?.as_str()?;
    let markdown = match o.get("markdown") {
        None => false,
        Some(m) => m.as_bool()?,
    };
    Some((text, markdown))
}

/// [`outgoing`] for content that did not come in through WPS.
fn from_canonical(
    kind: MessageType,
    c: &Content,
    ctime: i64,
    wps_id: &dyn Fn(&str) -> Option<String>,
    mentions: &[MentionLook],
) -> (&'static str, Value) {
    let d = &c.data;
    let fallback_text = |text: &str| {
        (
            "text",
            json!({ "text": { "content": text, "type": "plain" } }),
        )
    };
    match kind {
        MessageType::Text => match TextData::deserialize(d) {
            Ok(t) => {
                let ty = if t.markdown { "markdown" } else { "plain" };
                (
                    "text",
                    json!({ "text": { "content": rekey_at_tags(&t.text, wps_id), "type": ty } }),
                )
            }
            Err(_) => fallback_text(&c.text),
        },
        MessageType::RichText => match RichTextData::deserialize(d) {
            Ok(r) => (
                "rich_text",
                json!({ "rich_text": { "elements": rich_text_out(&r, mentions) } }),
            ),
            Err(_) => fallback_text(&c.text),
        },
        MessageType::Image | MessageType::Sticker => {
            let m = MediaData::deserialize(d).unwrap_or_default();
            let mut img = Map::new();
            img.insert("storage_key".into(), json!(m.key));
            put_str(&mut img, "type", m.format.clone());
            put_str(&mut img, "name", m.name.clone());
            put_int(&mut img, "size", m.size);
            put_int(&mut img, "width", m.width);
            put_int(&mut img, "height", m.height);
            if kind == MessageType::Image {
                put_str(&mut img, "thumbnail_storage_key", m.cover_key.clone());
                if let Some(t) = m.extra.get("thumbnail_type") {
                    img.insert("thumbnail_type".into(), t.clone());
                }
                ("image", json!({ "image": img }))
            } else {
                ("sticker", json!({ "sticker": { "image": img } }))
            }
        }
        MessageType::File => {
            let m = MediaData::deserialize(d).unwrap_or_default();
            if m.key.is_empty() && !m.url.is_empty() {
                (
                    "file",
                    json!({ "file": { "type": "cloud", "cloud": { "id": "", "link_url": m.url, "link_id": "" } } }),
                )
            } else {
                let mut local = Map::new();
                local.insert("storage_key".into(), json!(m.key));
                local.insert("name".into(), json!(m.name));
                put_int(&mut local, "size", m.size);
                (
                    "file",
                    json!({ "file": { "type": "local", "local": local } }),
                )
            }
        }
        MessageType::Audio | MessageType::Video => {
            let m = MediaData::deserialize(d).unwrap_or_default();
            let mut media = Map::new();
            put_str(&mut media, "format", m.format.clone());
            put_int(&mut media, "size", m.size);
            put_int(
                &mut media,
                "duration",
                m.duration_ms.map(|ms| (ms + 999) / 1000),
            );
            for k in ["codec", "channels", "sample_bits", "sample_rate"] {
                if let Some(v) = m.extra.get(k) {
                    media.insert(k.into(), v.clone());
                }
            }
            if kind == MessageType::Video {
                put_int(&mut media, "width", m.width);
                put_int(&mut media, "height", m.height);
                put_str(&mut media, "cover_storage_key", m.cover_key.clone());
            }
            let name = kind.as_str();
            (
                if kind == MessageType::Audio {
                    "audio"
                } else {
                    "video"
                },
                json!({ name: { "storage_key": m.key, "media": media } }),
            )
        }
        // Cards are vendor-specific: the card JSON is shown as its sender gave it.
        MessageType::Card => match CardData::deserialize(d) {
            Ok(card) => ("card", json!({ "card": card.card })),
            Err(_) => fallback_text(&c.text),
        },
        MessageType::Location => match LocationData::deserialize(d) {
            Ok(l) => (
                "location",
                json!({ "location": { "address": l.address, "latitude": l.latitude, "longitude": l.longitude, "storage_key": "", "title": l.title } }),
            ),
            Err(_) => fallback_text(&c.text),
        },
        MessageType::MergeForward => {
            let mf = MergeForwardData::deserialize(d).unwrap_or_default();
            let ids: Vec<String> = mf
                .source_ids
                .iter()
                .filter_map(|raw| MessageId::from_raw(*raw))
                .map(ids::message_id)
                .collect();
            (
                "merge_forward",
                json!({ "merge_forward": { "title": mf.title, "start_time": ctime, "end_time": ctime, "msg_id_list": ids, "msg_previews": [] } }),
            )
        }
        MessageType::Vote | MessageType::Calendar | MessageType::Meeting => {
            let o = OpaqueData::deserialize(d).unwrap_or_default();
            let body = if o.json.is_object() {
                o.json
            } else {
                json!({})
            };
            (kind.as_str(), json!({ kind.as_str(): body }))
        }
        // No WPS type exists for these: their plain rendition is shown as text.
        MessageType::ShareChat
        | MessageType::ShareUser
        | MessageType::Notification
        | MessageType::Tip
        | MessageType::Robot
        | MessageType::Custom
        | MessageType::System => fallback_text(&c.text),
    }
}

fn rich_text_out(r: &RichTextData, mentions: &[MentionLook]) -> Vec<Value> {
    let mut out = Vec::new();
    let mut index = 0;
    if !r.title.is_empty() {
        let el = json!({ "type": "text", "alt_text": r.title, "style_text_content": { "text": r.title, "style": { "bold": true } } });
        out.push(json!({ "type": "nl", "alt_text": r.title, "index": index, "indent": 0, "elements": [el] }));
        index += 1;
    }
    for p in &r.paragraphs {
        let single = RichTextData {
            title: String::new(),
            paragraphs: vec![p.clone()],
        };
        let els: Vec<Value> = p.iter().map(|n| node_out(n, mentions)).collect();
        out.push(json!({ "type": "nl", "alt_text": single.plain(), "index": index, "indent": 0, "elements": els }));
        index += 1;
    }
    out
}

fn node_out(n: &Node, mentions: &[MentionLook]) -> Value {
    match n {
        Node::Text { text, style } if !style.is_empty() => {
            let has = |s: &str| style.iter().any(|x| x == s);
            json!({ "type": "text", "alt_text": text, "style_text_content": { "text": text, "style": { "bold": has("bold"), "italic": has("italic") } } })
        }
        Node::Text { text, .. } | Node::CodeBlock { text, .. } => {
            json!({ "type": "text", "alt_text": text, "text_content": { "content": text, "type": "plain" } })
        }
        Node::A { text, href } => {
            json!({ "type": "link", "alt_text": text, "link_content": { "text": text, "url": href } })
        }
        Node::At { key, name } => {
            let identity = mentions
                .iter()
                .find(|m| &m.key == key)
                .map(|m| m.identity.clone())
                .unwrap_or_else(|| json!({}));
            json!({ "type": "mention", "alt_text": format!("@{name}"), "mention_content": { "identity": identity, "text": format!("@{name}") } })
        }
        Node::Img { key } => {
            json!({ "type": "image", "alt_text": "[image]", "image_content": { "storage_key": key } })
        }
        Node::Emoji { text } => {
            json!({ "type": "emoji", "alt_text": text, "text_content": { "content": text, "type": "plain" } })
        }
        Node::Hr => {
            json!({ "type": "text", "alt_text": "---", "text_content": { "content": "---", "type": "plain" } })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(kind: MessageType, v: Value) -> WResult<Incoming> {
        incoming(kind, &v, &[], 5000)
    }

    #[test]
    fn typed_content_is_byte_for_byte_the_value_form() {
        let rekey = |k: &str| (k == "a").then(|| "7".to_string());
        let datas = [
            json!({ "text": "plain words" }),
            json!({ "text": "quotes \" and \\ and \n newlines, \u{1} control, 中文 😀" }),
            json!({ "text": "hi <at id=\"a\">Al</at> and <at id=\"b\">Bo</at> <at id=\"" }),
            json!({ "text": "# title", "markdown": true }),
            json!({ "text": "off", "markdown": false, "other": [1, 2] }),
            json!({ "text": "" }),
        ];
        for d in datas {
            let c = Content {
                text: "fallback".into(),
                data: d.clone(),
                original: None,
            };
            let (ty, typed) = outgoing(MessageType::Text, &c, 5, &rekey, &[]);
            assert!(matches!(typed, ContentOut::Text { .. }), "{d}");
            let (vty, value) = from_canonical(MessageType::Text, &c, 5, &rekey, &[]);
            assert_eq!(ty, vty);
            assert_eq!(
                serde_json::to_string(&typed).unwrap(),
                serde_json::to_string(&value).unwrap(),
                "{d}"
            );
        }
        for d in [
            json!({ "card": { "header": { "title": "t" }, "elements": [1, "x", null] } }),
            json!({ "card": null, "other": 1 }),
        ] {
            let c = Content {
                text: "fallback".into(),
                data: d.clone(),
                original: None,
            };
            let (ty, typed) = outgoing(MessageType::Card, &c, 5, &rekey, &[]);
            assert!(matches!(typed, ContentOut::Keyed(..)), "{d}");
            let (vty, value) = from_canonical(MessageType::Card, &c, 5, &rekey, &[]);
            assert_eq!(
                (ty, serde_json::to_string(&typed).unwrap()),
                (vty, serde_json::to_string(&value).unwrap())
            );
        }
        let looks = [MentionLook {
            wps_id: "1".into(),
            key: "k1".into(),
            identity: json!({ "company_id": "c", "id": "bob", "type": "user" }),
        }];
        for d in [
            json!({ "title": "T \"q\"", "paragraphs": [
                [{ "tag": "text", "text": "plain" }, { "tag": "a", "text": "details", "href": "https://e.x/1?a=b&c" }],
                [{ "tag": "text", "text": "b", "style": ["bold"] }, { "tag": "text", "text": "i", "style": ["italic", "bold"] },
                 { "tag": "text", "text": "u", "style": ["underline"] }],
                [{ "tag": "at", "key": "k1", "name": "Bob" }, { "tag": "at", "key": "nobody" }, { "tag": "img", "key": "img_1" },
                 { "tag": "emoji", "text": "smile" }, { "tag": "code_block", "text": "fn main() {}", "language": "rust" }, { "tag": "hr" }],
                []
            ] }),
            json!({ "paragraphs": [[{ "tag": "text", "text": "no title, 中文\n" }]] }),
            json!({ "paragraphs": [] }),
        ] {
            let c = Content {
                text: "fallback".into(),
                data: d.clone(),
                original: None,
            };
            for ls in [&looks[..], &[]] {
                let (ty, typed) = outgoing(MessageType::RichText, &c, 5, &rekey, ls);
                assert!(matches!(typed, ContentOut::RichText { .. }), "{d}");
                let (vty, value) = from_canonical(MessageType::RichText, &c, 5, &rekey, ls);
                assert_eq!(
                    (ty, serde_json::to_string(&typed).unwrap()),
                    (vty, serde_json::to_string(&value).unwrap())
                );
            }
        }
        for (kind, d) in [
            (
                MessageType::Image,
                json!({ "key": "img_1", "width": 1280, "height": 720, "size": 5 }),
            ),
            (
                MessageType::Image,
                json!({ "key": "k", "name": "a.png", "format": "image/png", "cover_key": "t", "extra": { "thumbnail_type": "png", "other": 1 } }),
            ),
            (MessageType::Image, json!({ "url": "https://e.x/a.png" })),
            (MessageType::Image, json!({ "key": 5 })),
            (
                MessageType::Sticker,
                json!({ "key": "s", "cover_key": "t", "extra": { "thumbnail_type": "png" }, "width": 1 }),
            ),
            (
                MessageType::File,
                json!({ "key": "file_1", "name": "report.pdf", "size": 12 }),
            ),
            (MessageType::File, json!({ "key": "file_1" })),
            (MessageType::File, json!({ "key": [] })),
            (
                MessageType::Location,
                json!({ "title": "Office", "address": "1 \"Main\" St", "latitude": 31.2304, "longitude": -121.47 }),
            ),
            (
                MessageType::Location,
                json!({ "latitude": 0, "longitude": 1e-7 }),
            ),
        ] {
            let c = Content {
                text: "fallback".into(),
                data: d.clone(),
                original: None,
            };
            let (ty, typed) = outgoing(kind, &c, 5, &rekey, &[]);
            assert!(
                matches!(
                    typed,
                    ContentOut::Image { .. } | ContentOut::LocalFile(_) | ContentOut::Location(_)
                ),
                "{d}"
            );
            let (vty, value) = from_canonical(kind, &c, 5, &rekey, &[]);
            assert_eq!(
                (ty, serde_json::to_string(&typed).unwrap()),
                (vty, serde_json::to_string(&value).unwrap())
            );
        }
        // A file known only by its URL is a cloud file, rendered as before.
        let c = Content {
            text: "fallback".into(),
            data: json!({ "url": "https://e.x/f" }),
            original: None,
        };
        let (_, out) = outgoing(MessageType::File, &c, 5, &rekey, &[]);
        assert_eq!(serde_json::to_value(&out).unwrap()["file"]["type"], "cloud");
        // A card without one falls back to the plain rendition, as before.
        let c = Content {
            text: "fallback".into(),
            data: json!({ "elements": [] }),
            original: None,
        };
        let (ty, out) = outgoing(MessageType::Card, &c, 5, &rekey, &[]);
        assert_eq!(
            (ty, serde_json::to_value(&out).unwrap()),
            (
                "text",
                json!({ "text": { "content": "fallback", "type": "plain" } })
            )
        );
        // What `TextData` refuses falls back to the plain rendition, as before.
        for d in [
            json!({ "text": 5 }),
            json!({ "text": "x", "markdown": "yes" }),
            json!({ "text": "x", "markdown": null }),
            json!("text"),
            Value::Null,
        ] {
            let c = Content {
                text: "fallback".into(),
                data: d.clone(),
                original: None,
            };
            let (ty, out) = outgoing(MessageType::Text, &c, 5, &rekey, &[]);
            assert_eq!(ty, "text");
            assert_eq!(
                serde_json::to_value(&out).unwrap(),
                json!({ "text": { "content": "fallback", "type": "plain" } }),
                "{d}"
            );
        }
    }

    #[test]
    fn text_keeps_the_original_and_the_at_tags() {
        let v = json!({ "text": { "content": "hi <at id=\"1\">Bob</at>", "type": "markdown" } });
        let inc = convert(MessageType::Text, v.clone()).unwrap();
        assert_eq!(inc.content.text, "hi <at id=\"1\">Bob</at>");
        assert_eq!(
            inc.content.data,
            json!({ "text": "hi <at id=\"1\">Bob</at>", "markdown": true })
        );
        assert_eq!(inc.content.original.as_ref().unwrap().value, v);
        assert_eq!(
            at_tags(&inc.content.text),
            vec![("1".to_string(), "Bob".to_string())]
        );
    }

    #[test]
    fn content_key_must_match_type() {
        assert!(convert(
            MessageType::Text,
            json!({ "image": { "storage_key": "k" } })
        )
        .is_err());
        assert!(convert(
            MessageType::Text,
            json!({ "text": { "content": "a" }, "image": {} })
        )
        .is_err());
        assert!(convert(MessageType::Text, json!("text")).is_err());
        assert!(convert(MessageType::Text, json!({ "text": { "content": "" } })).is_err());
        assert!(convert(
            MessageType::Text,
            json!({ "text": { "content": "a", "type": "html" } })
        )
        .is_err());
    }

    #[test]
    fn length_limit_counts_characters() {
        let ok = "字".repeat(5000);
        assert!(convert(MessageType::Text, json!({ "text": { "content": ok } })).is_ok());
        let long = "字".repeat(5001);
        assert_eq!(
            convert(MessageType::Text, json!({ "text": { "content": long } }))
                .unwrap_err()
                .code,
            code::CONTENT_TOO_LONG
        );
    }

    #[test]
    fn media_types_convert_to_canonical() {
        let img = convert(MessageType::Image, json!({ "image": { "storage_key": "sk1", "type": "image/png", "width": 10, "height": 20, "size": 300, "thumbnail_storage_key": "t1", "thumbnail_type": "image/jpg" } })).unwrap();
        assert_eq!(img.content.data["key"], "sk1");
        assert_eq!(img.content.data["format"], "image/png");
        assert_eq!(img.content.data["cover_key"], "t1");
        assert!(convert(MessageType::Image, json!({ "image": { "width": 10 } })).is_err());
        assert!(convert(
            MessageType::Image,
            json!({ "image": { "storage_key": "k", "width": "wide" } })
        )
        .is_err());
        let f = convert(MessageType::File, json!({ "file": { "type": "local", "local": { "name": "a.txt", "size": 3, "storage_key": "fk" } } })).unwrap();
        assert_eq!(f.content.data["name"], "a.txt");
        assert!(convert(
            MessageType::File,
            json!({ "file": { "type": "cloud", "cloud": { "id": "1" } } })
        )
        .is_err());
        let a = convert(MessageType::Audio, json!({ "audio": { "storage_key": "ak", "media": { "codec": "amr", "duration": 3, "format": "wav", "sample_rate": 8000 } } })).unwrap();
        assert_eq!(a.content.data["duration_ms"], 3000);
        assert_eq!(a.content.data["extra"]["sample_rate"], 8000);
        let v = convert(MessageType::Video, json!({ "video": { "storage_key": "vk", "media": { "codec": "h.264", "cover_storage_key": "c", "duration": 5, "format": "mp4", "width": 640, "height": 480 } } })).unwrap();
        assert_eq!(v.content.data["cover_key"], "c");
        assert!(
            convert(MessageType::Card, json!({ "card": { "config": {} } })).is_err(),
            "i18n_items is required"
        );
        let c = convert(
            MessageType::Card,
            json!({ "card": { "config": {}, "i18n_items": [] } }),
        )
        .unwrap();
        assert_eq!(c.content.data["card"]["i18n_items"], json!([]));
    }

    #[test]
    fn rich_text_paragraphs_and_mentions() {
        let v = json!({ "rich_text": { "elements": [
            { "type": "nl", "alt_text": "", "index": 0, "elements": [
                { "type": "text", "alt_text": "hi", "text_content": { "content": "hi ", "type": "plain" } },
                { "type": "mention", "alt_text": "@Bob", "mention_content": { "identity": { "id": "bob", "type": "user", "name": "Bob" }, "text": "@Bob" } }
            ] },
            { "type": "link", "alt_text": "x", "link_content": { "text": "docs", "url": "https://example.com" } }
        ] } });
        let inc = incoming(MessageType::RichText, &v, &["1".to_string()], 5000).unwrap();
        assert_eq!(inc.content.text, "hi @Bob\ndocs");
        assert_eq!(inc.inline_mentions.len(), 1);
        assert_eq!(
            inc.inline_mentions[0].id, "2",
            "keys continue after the request's mention ids"
        );
        assert!(convert(
            MessageType::RichText,
            json!({ "rich_text": { "elements": [] } })
        )
        .is_err());
        assert!(convert(
            MessageType::RichText,
            json!({ "rich_text": { "elements": [{ "type": "blink", "alt_text": "" }] } })
        )
        .is_err());
    }

    #[test]
    fn rekeying_rewrites_only_tag_ids() {
        let s = "a <at id=\"@_user_1\">Bob</at> b <at id=\"x\">X</at>";
        let out = rekey_at_tags(s, &|k| (k == "@_user_1").then(|| "1".to_string()));
        assert_eq!(out, "a <at id=\"1\">Bob</at> b <at id=\"x\">X</at>");
    }

    #[test]
    fn foreign_content_renders_from_canonical() {
        let c = canon::canonical(MessageType::Text, json!({ "text": "hello" })).unwrap();
        let (ty, v) = outgoing(MessageType::Text, &c, 0, &|_| None, &[]);
        assert_eq!(
            (ty, serde_json::to_value(&v).unwrap()),
            (
                "text",
                json!({ "text": { "content": "hello", "type": "plain" } })
            )
        );
        let c = canon::canonical(MessageType::ShareChat, json!({ "chat_id": 5 })).unwrap();
        assert_eq!(
            outgoing(MessageType::ShareChat, &c, 0, &|_| None, &[]).0,
            "text"
        );
        let c = canon::canonical(
            MessageType::Location,
            json!({ "latitude": 1.5, "longitude": 2.5, "title": "T" }),
        )
        .unwrap();
        let (ty, v) = outgoing(MessageType::Location, &c, 0, &|_| None, &[]);
        assert_eq!(ty, "location");
        assert_eq!(
            serde_json::to_value(&v).unwrap()["location"]["latitude"],
            1.5
        );
    }
}
