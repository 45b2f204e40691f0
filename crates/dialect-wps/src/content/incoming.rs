//! Incoming: a WPS `content` object validated against the schema of its type and
//! converted to canonical content.

use super::{put_int, put_str, FORMAT};
use crate::error::{code, WResult, WpsError};
use axum::http::StatusCode;
use serde::Deserialize;
use serde_json::{Map, Value};
use switchboard_core::content::{self as canon, CardData, MediaData, Node, RichTextData, TextData};
use switchboard_core::json::Json;
use switchboard_core::model::{Content, MessageType, OriginalContent};

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
        value: Json::from_value(content),
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
