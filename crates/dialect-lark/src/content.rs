//! Vendor content JSON ↔ canonical content.
//!
//! Incoming: `msg_type` + the `content` JSON string become a canonical [`Content`] whose
//! `data` follows `switchboard_core::content`, whose `original` keeps the vendor JSON as
//! received (tag `"lark"`), and the message's [`Mention`]s.
//!
//! Outgoing: a message whose original is ours is echoed from that original (with `at`
//! nodes rewritten, see below); anything else is rendered from canonical `data`/`text`.
//! Mentions read the way Feishu shows them: `@_user_N` placeholders in text and `at` nodes,
//! with the ids in `mentions[]` (open_ids are per app, so the ids a sender wrote are
//! meaningless to another reader). The Hi face writes `@name` in the text and lists the ids
//! in `atIdList` (`"-1"` for @all), as in its seed document.

use crate::error::{self, LarkError, Op};
use crate::face::{Ctx, Face};
use crate::ids;
use crate::render::Reader;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use switchboard_core::content::{
    self as canon, CardData, MediaData, Node, RichTextData, ShareChatData, ShareUserData, TextData,
};
use switchboard_core::error::Error;
use switchboard_core::model::{App, Content, Mention, MentionTarget, MessageType, OriginalContent};
use switchboard_core::service::{MessageView, Party};
use switchboard_core::store::UserKey;
use switchboard_core::Core;

/// The tag this dialect's originals carry.
pub const FORMAT: &str = "lark";
const TEXT_LIMIT: usize = 150 * 1024;
const RICH_LIMIT: usize = 30 * 1024;
/// The body of a merge-forward container, as Feishu shows it (a plain string, not JSON).
pub const MERGE_FORWARD_BODY: &str = "Merged and Forwarded Message";
/// What a recalled message reads as.
pub const RECALLED_TEXT: &str = "This message was recalled";

/// A vendor `msg_type` as the canonical type (both faces' spellings are accepted).
pub fn parse_msg_type(s: &str) -> Option<MessageType> {
    Some(match s {
        "text" => MessageType::Text,
        "post" | "rich_text" => MessageType::RichText,
        "image" => MessageType::Image,
        "file" => MessageType::File,
        "audio" => MessageType::Audio,
        "media" => MessageType::Video,
        "sticker" => MessageType::Sticker,
        "interactive" | "compressive_card" | "system_card" => MessageType::Card,
        "share_chat" => MessageType::ShareChat,
        "share_user" => MessageType::ShareUser,
        _ => return None,
    })
}

/// The `msg_type` a face shows for a canonical type. Types Feishu has no name for are shown
/// as `text` with their plain rendition.
pub fn msg_type(face: Face, kind: MessageType) -> &'static str {
    match (face, kind) {
        (Face::Hi, MessageType::RichText) => "rich_text",
        (Face::Feishu, MessageType::RichText) => "post",
        (Face::Hi, MessageType::Card) => "compressive_card",
        (Face::Feishu, MessageType::Card) => "interactive",
        (_, MessageType::Text) => "text",
        (_, MessageType::Image) => "image",
        (_, MessageType::File) => "file",
        (_, MessageType::Audio) => "audio",
        (_, MessageType::Video) => "media",
        (_, MessageType::Sticker) => "sticker",
        (_, MessageType::MergeForward) => "merge_forward",
        (_, MessageType::ShareChat) => "share_chat",
        (_, MessageType::ShareUser) => "share_user",
        (_, MessageType::Location) => "location",
        (_, MessageType::System) => "system",
        (_, _) => "text",
    }
}

/// A parsed incoming message body.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
}

// ----- incoming ----------------------------------------------------------------------------

/// Resolves an id a sender wrote (`all`, an open_id of the sending app, a union_id, an app_id
/// or a tenant user_id) to a mention target in the sender's tenant.
async fn resolve(core: &Core, app: &App, raw: &str) -> Result<Option<MentionTarget>, Error> {
    if raw == "all" || raw == "-1" {
        return Ok(Some(MentionTarget::All));
    }
    let user = if raw.starts_with("ou_") {
        ids::parse_open_id(raw, app.id)
    } else if raw.starts_with("on_") {
        ids::parse_union_id(raw)
    } else if raw.starts_with("cli_") {
        return match core.app_by_public_id(raw).await {
            Ok(a) if a.tenant == app.tenant => Ok(Some(MentionTarget::App(a.id))),
            Ok(_) | Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        };
    } else {
        return match core.find_user(app.tenant, UserKey::UserId(raw)).await {
            Ok(u) => Ok(Some(MentionTarget::User(u.id))),
            Err(Error::NotFound(_)) => Ok(None),
            Err(e) => Err(e),
        };
    };
    let Some(uid) = user else { return Ok(None) };
    match core.user(app.tenant, uid).await {
        Ok(u) => Ok(Some(MentionTarget::User(u.id))),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Hands out mention keys the way Feishu numbers them.
#[derive(Default)]
struct KeyGen {
    users: usize,
    mentions: Vec<Mention>,
}

impl KeyGen {
    fn add(&mut self, target: MentionTarget, name: String) -> String {
        let key = if target == MentionTarget::All {
            // At most one @all mention per message; reuse its key.
            if let Some(m) = self
                .mentions
                .iter()
                .find(|m| m.target == MentionTarget::All)
            {
                return m.key.clone();
            }
            "@_all".to_string()
        } else {
            self.users += 1;
            format!("@_user_{}", self.users)
        };
        self.mentions.push(Mention {
            key: key.clone(),
            target,
            name,
        });
        key
    }
}

/// One piece of text around `<at …>name</at>` markup.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(String),
    At { id: String, name: String },
}

/// Splits text on `<at ATTR="ID">name</at>` tags, ATTR being `user_id`, `id`, `open_id`,
/// `union_id` (Feishu's spelling and our canonical one). Malformed tags stay literal.
pub fn scan_at(text: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(start) = rest.find("<at ") {
        lit.push_str(&rest[..start]);
        let tail = &rest[start..];
        let parsed = tail.find('>').and_then(|gt| {
            let attrs = &tail[4..gt];
            let after = &tail[gt + 1..];
            let end = after.find("</at>")?;
            let id = attr(attrs, &["user_id", "id", "open_id", "union_id"])?;
            Some((id, after[..end].to_string(), gt + 1 + end + 5))
        });
        match parsed {
            Some((id, name, used)) => {
                if !lit.is_empty() {
                    out.push(Piece::Lit(std::mem::take(&mut lit)));
                }
                out.push(Piece::At { id, name });
                rest = &tail[used..];
            }
            None => {
                lit.push_str("<at ");
                rest = &tail[4..];
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        out.push(Piece::Lit(lit));
    }
    out
}

fn attr(attrs: &str, names: &[&str]) -> Option<String> {
    let mut s = attrs.trim();
    while !s.is_empty() {
        let eq = s.find('=')?;
        let key = s[..eq].trim();
        let v = s[eq + 1..].trim_start();
        let q = v.chars().next().filter(|c| *c == '"' || *c == '\'')?;
        let close = v[1..].find(q)?;
        let value = &v[1..1 + close];
        if names.contains(&key) {
            return Some(value.to_string());
        }
        s = v[close + 2..].trim_start();
    }
    None
}

fn obj<'a>(ctx: &Ctx, v: &'a Value, what: &str) -> Result<&'a Map<String, Value>, LarkError> {
    v.as_object()
        .ok_or_else(|| LarkError::invalid(ctx, format!("content of {what} must be a JSON object")))
}

fn str_field(
    ctx: &Ctx,
    o: &Map<String, Value>,
    key: &str,
    required: bool,
) -> Result<String, LarkError> {
    match o.get(key) {
        Some(Value::String(s)) if !s.is_empty() || !required => Ok(s.clone()),
        None | Some(Value::Null) if !required => Ok(String::new()),
        _ => Err(LarkError::invalid(
            ctx,
            format!("content.{key} must be a non-empty string"),
        )),
    }
}

fn int_field(o: &Map<String, Value>, key: &str) -> Option<i64> {
    match o.get(key) {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
}

async fn mention_target(
    core: &Core,
    ctx: &Ctx,
    app: &App,
    raw: &str,
) -> Result<MentionTarget, LarkError> {
    match resolve(core, app, raw).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(LarkError::invalid(
            ctx,
            format!("mentioned id {raw:?} does not exist"),
        )),
        Err(e) => Err(LarkError::core(ctx, Op::Send, e)),
    }
}

/// Parses an incoming `msg_type` and `content` (the JSON string) sent by `app`.
pub async fn incoming(
    core: &Core,
    ctx: &Ctx,
    app: &App,
    msg_type: &str,
    content: &str,
) -> Result<Incoming, LarkError> {
    let kind = parse_msg_type(msg_type)
        .ok_or_else(|| LarkError::invalid(ctx, format!("invalid msg_type {msg_type:?}")))?;
    let limit = if matches!(kind, MessageType::RichText | MessageType::Card) {
        RICH_LIMIT
    } else {
        TEXT_LIMIT
    };
    if content.len() > limit {
        return Err(LarkError::code(
            ctx,
            error::CONTENT_TOO_LONG,
            format!("The message content exceeds the {limit}-byte limit."),
        ));
    }
    let value: Value = serde_json::from_str(content)
        .map_err(|_| LarkError::invalid(ctx, "content is not a valid JSON string"))?;
    let mut keys = KeyGen::default();
    let data = match kind {
        MessageType::Text => {
            let o = obj(ctx, &value, "text")?;
            let raw = str_field(ctx, o, "text", true)?;
            let mut text = String::new();
            for piece in scan_at(&raw) {
                match piece {
                    Piece::Lit(s) => text.push_str(&s),
                    Piece::At { id, name } => {
                        let target = mention_target(core, ctx, app, &id).await?;
                        let key = keys.add(target, name.clone());
                        text.push_str(&format!("<at id=\"{key}\">{name}</at>"));
                    }
                }
            }
            // Hi lists mentions beside the text instead of marking them up.
            if let Some(list) = o.get("atIdList") {
                let list = list.as_array().ok_or_else(|| {
                    LarkError::invalid(ctx, "content.atIdList must be an array of ids")
                })?;
                for id in list {
                    let id = id.as_str().ok_or_else(|| {
                        LarkError::invalid(ctx, "content.atIdList must be an array of ids")
                    })?;
                    let target = mention_target(core, ctx, app, id).await?;
                    if !keys.mentions.iter().any(|m| m.target == target) {
                        keys.add(target, String::new());
                    }
                }
            }
            serde_json::to_value(TextData {
                text,
                markdown: false,
            })
            .expect("serialisable")
        }
        MessageType::RichText => {
            let post = post_body(&value).ok_or_else(|| {
                LarkError::invalid(
                    ctx,
                    "post content needs {\"zh_cn\": {\"title\", \"content\": [[node]]}}",
                )
            })?;
            let title = post
                .get("title")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let mut paragraphs = Vec::new();
            for para in post
                .get("content")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let para = para.as_array().ok_or_else(|| {
                    LarkError::invalid(ctx, "post content must be a list of paragraphs")
                })?;
                let mut nodes = Vec::new();
                for n in para {
                    nodes.push(post_node(core, ctx, app, n, &mut keys).await?);
                }
                paragraphs.push(nodes);
            }
            serde_json::to_value(RichTextData { title, paragraphs }).expect("serialisable")
        }
        MessageType::Image => {
            let o = obj(ctx, &value, "image")?;
            media(o, str_field(ctx, o, "image_key", true)?, &["image_key"])
        }
        MessageType::File | MessageType::Audio | MessageType::Sticker | MessageType::Video => {
            let o = obj(ctx, &value, msg_type)?;
            let mut m = MediaData {
                key: str_field(ctx, o, "file_key", true)?,
                ..MediaData::default()
            };
            m.name = str_field(ctx, o, "file_name", false)?;
            m.duration_ms = int_field(o, "duration");
            if kind == MessageType::Video {
                m.cover_key = str_field(ctx, o, "image_key", false)?;
            }
            for (k, v) in o {
                if !["file_key", "file_name", "duration", "image_key"].contains(&k.as_str()) {
                    m.extra.insert(k.clone(), v.clone());
                }
            }
            serde_json::to_value(m).expect("serialisable")
        }
        MessageType::Card => {
            obj(ctx, &value, "a card")?;
            serde_json::to_value(CardData {
                card: value.clone(),
            })
            .expect("serialisable")
        }
        MessageType::ShareChat => {
            let o = obj(ctx, &value, "share_chat")?;
            let raw = str_field(ctx, o, "chat_id", true)?;
            let chat = ids::parse_chat_id(&raw)
                .ok_or_else(|| LarkError::invalid(ctx, "content.chat_id is not a chat id"))?;
            core.chat(app.tenant, chat)
                .await
                .map_err(|_| LarkError::invalid(ctx, "content.chat_id not found"))?;
            json!(ShareChatData { chat_id: chat.0 })
        }
        MessageType::ShareUser => {
            let o = obj(ctx, &value, "share_user")?;
            let raw = str_field(ctx, o, "user_id", true)?;
            match resolve(core, app, &raw).await {
                Ok(Some(MentionTarget::User(u))) => json!(ShareUserData { user_id: u.0 }),
                Ok(_) => {
                    return Err(LarkError::invalid(
                        ctx,
                        "content.user_id is not a user of this tenant",
                    ))
                }
                Err(e) => return Err(LarkError::core(ctx, Op::Send, e)),
            }
        }
        _ => {
            return Err(LarkError::invalid(
                ctx,
                format!("invalid msg_type {msg_type:?}"),
            ))
        }
    };
    let text = canon::validate(kind, &data).map_err(|reason| LarkError::invalid(ctx, reason))?;
    let content = Content {
        text,
        data,
        original: Some(OriginalContent {
            format: FORMAT.into(),
            value,
        }),
    };
    Ok(Incoming {
        kind,
        content,
        mentions: keys.mentions,
    })
}

fn media(o: &Map<String, Value>, key: String, known: &[&str]) -> Value {
    let mut m = MediaData {
        key,
        ..MediaData::default()
    };
    for (k, v) in o {
        if !known.contains(&k.as_str()) {
            m.extra.insert(k.clone(), v.clone());
        }
    }
    serde_json::to_value(m).expect("serialisable")
}

/// The post body: `{zh_cn|en_us|…: {title, content}}`, or an unwrapped `{title, content}`.
fn post_body(v: &Value) -> Option<&Map<String, Value>> {
    let o = v.as_object()?;
    if o.get("content").is_some_and(Value::is_array) {
        return Some(o);
    }
    for lang in ["zh_cn", "en_us", "ja_jp"] {
        if let Some(b) = o.get(lang).and_then(Value::as_object) {
            return Some(b);
        }
    }
    o.values()
        .filter_map(Value::as_object)
        .find(|b| b.get("content").is_some_and(Value::is_array))
}

fn styles(n: &Map<String, Value>) -> Vec<String> {
    n.get("style")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

async fn post_node(
    core: &Core,
    ctx: &Ctx,
    app: &App,
    n: &Value,
    keys: &mut KeyGen,
) -> Result<Node, LarkError> {
    let n = n
        .as_object()
        .ok_or_else(|| LarkError::invalid(ctx, "post nodes must be objects"))?;
    let s = |k: &str| {
        n.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    Ok(
        match n.get("tag").and_then(Value::as_str).unwrap_or_default() {
            "text" | "md" => Node::Text {
                text: s("text"),
                style: styles(n),
            },
            "a" => Node::A {
                text: s("text"),
                href: s("href"),
            },
            "at" => {
                let raw = s("user_id");
                let target = mention_target(core, ctx, app, &raw).await?;
                let name = n
                    .get("user_name")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                Node::At {
                    key: keys.add(target, name.clone()),
                    name,
                }
            }
            "img" => Node::Img {
                key: s("image_key"),
            },
            "media" => Node::Img {
                key: if n.contains_key("image_key") {
                    s("image_key")
                } else {
                    s("file_key")
                },
            },
            "emotion" => Node::Emoji {
                text: s("emoji_type"),
            },
            "hr" => Node::Hr,
            "code_block" => Node::CodeBlock {
                text: s("text"),
                language: n
                    .get("language")
                    .and_then(Value::as_str)
                    .map(str::to_string),
            },
            other => {
                return Err(LarkError::invalid(
                    ctx,
                    format!("unknown post node tag {other:?}"),
                ))
            }
        },
    )
}

// ----- outgoing ----------------------------------------------------------------------------

/// How a reader names each of a message's mentions.
pub struct ReadMentions {
    /// Per mention: its key on this face (`@_user_N`, `@_all`) and display name.
    pub keys: Vec<(String, String)>,
}

impl ReadMentions {
    pub fn of(v: &MessageView) -> ReadMentions {
        let mut users = 0;
        let keys = v
            .message
            .mentions
            .iter()
            .zip(&v.mention_parties)
            .map(|(m, p)| {
                let key = if m.target == MentionTarget::All {
                    "@_all".to_string()
                } else {
                    users += 1;
                    format!("@_user_{users}")
                };
                let name = if !m.name.is_empty() {
                    m.name.clone()
                } else {
                    match p {
                        Some(Party::User(u)) => u.name.clone(),
                        Some(Party::App(a)) => a.name.clone(),
                        None if m.target == MentionTarget::All => "所有人".to_string(),
                        None => String::new(),
                    }
                };
                (key, name)
            })
            .collect();
        ReadMentions { keys }
    }

    fn by_canonical(&self, v: &MessageView, key: &str) -> Option<usize> {
        v.message.mentions.iter().position(|m| m.key == key)
    }
}

/// The `body.content` string of `v` as `r` reads it (the message is not removed).
pub fn outgoing(r: &Reader, v: &MessageView, rm: &ReadMentions) -> String {
    let m = &v.message;
    let original = m
        .content
        .original
        .as_ref()
        .filter(|o| o.format == FORMAT)
        .map(|o| &o.value);
    let data = &m.content.data;
    let value = match m.kind {
        MessageType::Text => return text(r, v, rm),
        MessageType::RichText => match original {
            Some(o) => rewrite_at_nodes(o.clone(), v, rm),
            None => return post_string(data, v, rm),
        },
        MessageType::Card => match (r.face, original) {
            // The Hi seed: "when the message is a compressive_card, the content returned is \"\"".
            (Face::Hi, _) => return String::new(),
            (Face::Feishu, Some(o)) => o.clone(),
            (Face::Feishu, None) => {
                json!({ "elements": [{ "tag": "div", "text": { "tag": "plain_text", "content": m.content.text } }] })
            }
        },
        MessageType::MergeForward => return MERGE_FORWARD_BODY.to_string(),
        _ if original.is_some()
            && !matches!(m.kind, MessageType::ShareChat | MessageType::ShareUser) =>
        {
            original.cloned().unwrap_or_default()
        }
        MessageType::Image => {
            let md = MediaData::deserialize(data).unwrap_or_default();
            json!({ "image_key": md.key })
        }
        MessageType::File | MessageType::Audio | MessageType::Video | MessageType::Sticker => {
            let md = MediaData::deserialize(data).unwrap_or_default();
            let mut o = json!({ "file_key": md.key });
            if !md.name.is_empty() && matches!(m.kind, MessageType::File | MessageType::Video) {
                o["file_name"] = json!(md.name);
            }
            if let Some(d) = md
                .duration_ms
                .filter(|_| matches!(m.kind, MessageType::Audio | MessageType::Video))
            {
                o["duration"] = json!(d);
            }
            if m.kind == MessageType::Video && !md.cover_key.is_empty() {
                o["image_key"] = json!(md.cover_key);
            }
            o
        }
        MessageType::ShareChat => {
            let c = data.get("chat_id").and_then(Value::as_i64).unwrap_or(0);
            json!({ "chat_id": ids::chat_id(switchboard_core::ids::ChatId(c)) })
        }
        // Feishu shares users by open_id, which is the reader app's own.
        MessageType::ShareUser => {
            let u = data.get("user_id").and_then(Value::as_i64).unwrap_or(0);
            json!({ "user_id": ids::open_id(switchboard_core::ids::UserId(u), r.app.id) })
        }
        MessageType::Location => {
            let l = canon::LocationData::deserialize(data).unwrap_or_default();
            json!({ "name": if l.title.is_empty() { l.address } else { l.title }, "latitude": l.latitude.to_string(), "longitude": l.longitude.to_string() })
        }
        MessageType::System => json!({ "template": m.content.text }),
        _ => json!({ "text": m.content.text }),
    };
    serde_json::to_string(&value).expect("serialisable")
}

/// The placeholder body of a recalled message.
pub fn recalled() -> String {
    json!({ "text": RECALLED_TEXT }).to_string()
}

fn text(r: &Reader, v: &MessageView, rm: &ReadMentions) -> String {
    let canonical = v
        .message
        .content
        .data
        .get("text")
        .and_then(Value::as_str)
        .unwrap_or(&v.message.content.text);
    let mut out = String::new();
    for piece in scan_at(canonical) {
        match piece {
            Piece::Lit(s) => out.push_str(&s),
            Piece::At { id, name } => match (rm.by_canonical(v, &id), r.face) {
                (Some(i), Face::Feishu) => out.push_str(&rm.keys[i].0),
                (Some(i), Face::Hi) => {
                    out.push('@');
                    out.push_str(if name.is_empty() {
                        &rm.keys[i].1
                    } else {
                        &name
                    });
                }
                (None, _) => {
                    out.push('@');
                    out.push_str(&name);
                }
            },
        }
    }
    let mut o = Map::new();
    if r.face == Face::Hi && !v.message.mentions.is_empty() {
        let list: Vec<Value> = v
            .message
            .mentions
            .iter()
            .zip(&v.mention_parties)
            .map(|(m, p)| json!(r.mention_id(&m.target, p.as_ref()).0))
            .collect();
        o.insert("atIdList".into(), Value::Array(list));
    }
    o.insert("text".into(), json!(out));
    Value::Object(o).to_string()
}

/// Rewrites the `user_id` of every `at` node of an original post to the reader's mention key.
fn rewrite_at_nodes(mut value: Value, v: &MessageView, rm: &ReadMentions) -> Value {
    fn walk(node: &mut Value, f: &mut dyn FnMut(&mut Map<String, Value>)) {
        match node {
            Value::Array(a) => a.iter_mut().for_each(|n| walk(n, f)),
            Value::Object(o) => {
                if o.get("tag").and_then(Value::as_str) == Some("at") {
                    f(o);
                } else {
                    o.values_mut().for_each(|n| walk(n, f));
                }
            }
            _ => {}
        }
    }
    let sender_app = match v.message.sender {
        switchboard_core::model::Actor::App(a) => Some(a),
        _ => None,
    };
    walk(&mut value, &mut |o| {
        let raw = o
            .get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let found = v
            .message
            .mentions
            .iter()
            .zip(&v.mention_parties)
            .position(|(m, p)| match (&m.target, p) {
                (MentionTarget::All, _) => raw == "all",
                (MentionTarget::User(u), p) => {
                    sender_app.is_some_and(|a| ids::parse_open_id(&raw, a) == Some(*u))
                        || ids::parse_union_id(&raw) == Some(*u)
                        || matches!(p, Some(Party::User(x)) if x.user_id == raw)
                }
                (MentionTarget::App(_), Some(Party::App(a))) => a.app_id == raw,
                _ => false,
            });
        if let Some(i) = found {
            o.insert("user_id".into(), json!(rm.keys[i].0));
            if !o.contains_key("user_name") {
                o.insert("user_name".into(), json!(rm.keys[i].1));
            }
        }
    });
    value
}

/// A `post` rendered from canonical rich text, written straight to its JSON string: the
/// same bytes as [`post_from_canonical`]'s tree (`typed_post_is_byte_for_byte_the_value_form`)
/// without building, serialising and freeing that tree on every read.
fn post_string(data: &Value, v: &MessageView, rm: &ReadMentions) -> String {
    use serde::ser::{Serialize, SerializeMap, Serializer};
    struct Nodes<'b>(&'b [Node], &'b MessageView, &'b ReadMentions);
    struct Paragraphs<'b>(&'b RichTextData, &'b MessageView, &'b ReadMentions);
    // Fields in alphabetical order, as the tree's maps write them.
    #[derive(serde::Serialize)]
    struct Post<'b> {
        zh_cn: Body<'b>,
    }
    #[derive(serde::Serialize)]
    struct Body<'b> {
        content: Paragraphs<'b>,
        title: &'b str,
    }
    impl Serialize for Paragraphs<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (v, rm) = (self.1, self.2);
            s.collect_seq(self.0.paragraphs.iter().map(|p| Nodes(p, v, rm)))
        }
    }
    impl Serialize for Nodes<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let (v, rm) = (self.1, self.2);
            s.collect_seq(self.0.iter().map(|n| NodeOut(n, v, rm)))
        }
    }
    struct NodeOut<'b>(&'b Node, &'b MessageView, &'b ReadMentions);
    impl Serialize for NodeOut<'_> {
        fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            let mut m = s.serialize_map(None)?;
            match self.0 {
                Node::Text { text, style } => {
                    m.serialize_entry("style", style)?;
                    m.serialize_entry("tag", "text")?;
                    m.serialize_entry("text", text)?;
                }
                Node::A { text, href } => {
                    m.serialize_entry("href", href)?;
                    m.serialize_entry("tag", "a")?;
                    m.serialize_entry("text", text)?;
                }
                Node::At { key, name } => match self.2.by_canonical(self.1, key) {
                    Some(i) => {
                        let (user_id, shown) = &self.2.keys[i];
                        m.serialize_entry("tag", "at")?;
                        m.serialize_entry("user_id", user_id)?;
                        m.serialize_entry("user_name", if name.is_empty() { shown } else { name })?;
                    }
                    None => {
                        m.serialize_entry("tag", "text")?;
                        m.serialize_entry("text", &format!("@{name}"))?;
                    }
                },
                Node::Img { key } => {
                    m.serialize_entry("image_key", key)?;
                    m.serialize_entry("tag", "img")?;
                }
                Node::Emoji { text } => {
                    m.serialize_entry("emoji_type", text)?;
                    m.serialize_entry("tag", "emotion")?;
                }
                Node::CodeBlock { text, language } => {
                    m.serialize_entry("language", language)?;
                    m.serialize_entry("tag", "code_block")?;
                    m.serialize_entry("text", text)?;
                }
                Node::Hr => m.serialize_entry("tag", "hr")?,
            }
            m.end()
        }
    }
    let rt = RichTextData::deserialize(data).unwrap_or_default();
    let post = Post {
        zh_cn: Body {
            content: Paragraphs(&rt, v, rm),
            title: &rt.title,
        },
    };
    serde_json::to_string(&post).expect("serialisable")
}

#[cfg(test)]
fn post_from_canonical(data: &Value, v: &MessageView, rm: &ReadMentions) -> Value {
    let rt = RichTextData::deserialize(data).unwrap_or_default();
    let paragraphs: Vec<Value> = rt
        .paragraphs
        .iter()
        .map(|p| {
            p.iter()
                .map(|n| match n {
                    Node::Text { text, style } => json!({ "tag": "text", "text": text, "style": style }),
                    Node::A { text, href } => json!({ "tag": "a", "text": text, "href": href }),
                    Node::At { key, name } => match rm.by_canonical(v, key) {
                        Some(i) => json!({ "tag": "at", "user_id": rm.keys[i].0, "user_name": if name.is_empty() { &rm.keys[i].1 } else { name } }),
                        None => json!({ "tag": "text", "text": format!("@{name}") }),
                    },
                    Node::Img { key } => json!({ "tag": "img", "image_key": key }),
                    Node::Emoji { text } => json!({ "tag": "emotion", "emoji_type": text }),
                    Node::CodeBlock { text, language } => json!({ "tag": "code_block", "text": text, "language": language }),
                    Node::Hr => json!({ "tag": "hr" }),
                })
                .collect()
        })
        .collect();
    json!({ "zh_cn": { "title": rt.title, "content": paragraphs } })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_post_is_byte_for_byte_the_value_form() {
        use switchboard_core::ids::{ChatId, MessageId, TenantId, UserId};
        use switchboard_core::model::{Actor, Chat, ChatKind};
        let chat = ChatId(3);
        let data = json!({ "title": "T \"q\" 中文", "paragraphs": [
            [{ "tag": "text", "text": "plain" }, { "tag": "a", "text": "details", "href": "https://e.x/1?a=b&c" }],
            [{ "tag": "text", "text": "b", "style": ["bold", "italic"] }, { "tag": "at", "key": "k1" },
             { "tag": "at", "key": "k1", "name": "Robert" }, { "tag": "at", "key": "nobody", "name": "X" }],
            [{ "tag": "img", "key": "img_1" }, { "tag": "emoji", "text": "SMILE" },
             { "tag": "code_block", "text": "fn main() {}", "language": "rust" },
             { "tag": "code_block", "text": "x" }, { "tag": "hr" }],
            []
        ] });
        let mut message = switchboard_core::testing::new_text(
            TenantId(1),
            chat,
            Actor::User(UserId(1)),
            "plain",
            5,
        )
        .to_message(MessageId::timeline(chat, 1).unwrap(), 5, None);
        message.kind = MessageType::RichText;
        message.content.data = data.clone();
        message.mentions = vec![Mention {
            key: "k1".into(),
            target: MentionTarget::User(UserId(2)),
            name: "Bob".into(),
        }];
        let v = MessageView {
            chat: Chat {
                id: chat,
                tenant: TenantId(1),
                kind: ChatKind::Group,
                name: "g".into(),
                owner: Actor::User(UserId(1)),
                created_at: 1,
                dissolved_at: None,
                last_position: 1,
            },
            message,
            sender: None,
            mention_parties: vec![None],
        };
        let rm = ReadMentions::of(&v);
        for d in [data, json!({ "paragraphs": [] }), json!("not rich text")] {
            assert_eq!(
                post_string(&d, &v, &rm),
                serde_json::to_string(&post_from_canonical(&d, &v, &rm)).unwrap(),
                "{d}"
            );
        }
    }

    #[test]
    fn at_scanner() {
        let p =
            scan_at(r#"hi <at user_id="ou_1">Tom</at>, <at id='2'>Ann</at> <at bad>x</at> end"#);
        assert_eq!(
            p,
            vec![
                Piece::Lit("hi ".into()),
                Piece::At {
                    id: "ou_1".into(),
                    name: "Tom".into()
                },
                Piece::Lit(", ".into()),
                Piece::At {
                    id: "2".into(),
                    name: "Ann".into()
                },
                Piece::Lit(" <at bad>x</at> end".into()),
            ]
        );
        assert_eq!(scan_at("plain"), vec![Piece::Lit("plain".into())]);
        assert_eq!(
            scan_at("<at user_id=\"all\"></at>"),
            vec![Piece::At {
                id: "all".into(),
                name: String::new()
            }]
        );
    }

    #[test]
    fn msg_types_per_face() {
        assert_eq!(msg_type(Face::Hi, MessageType::RichText), "rich_text");
        assert_eq!(msg_type(Face::Feishu, MessageType::RichText), "post");
        assert_eq!(msg_type(Face::Hi, MessageType::Card), "compressive_card");
        assert_eq!(msg_type(Face::Feishu, MessageType::Card), "interactive");
        assert_eq!(msg_type(Face::Feishu, MessageType::Custom), "text");
        for t in [
            "text",
            "post",
            "rich_text",
            "image",
            "file",
            "audio",
            "media",
            "sticker",
            "interactive",
            "compressive_card",
            "share_chat",
            "share_user",
        ] {
            let k = parse_msg_type(t).unwrap();
            assert!(
                [msg_type(Face::Hi, k), msg_type(Face::Feishu, k)].contains(&t)
                    || t == "system_card"
            );
        }
        assert_eq!(
            parse_msg_type("merge_forward"),
            None,
            "merge-forward messages are made by forwarding"
        );
    }
}
