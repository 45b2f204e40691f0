//! Incoming: a request's `msg_type` and `content` JSON string as canonical content, with the
//! ids its mentions name resolved in the sender's tenant.

use super::{parse_msg_type, scan_at, Piece, FORMAT};
use crate::error::{self, LarkError};
use crate::face::Ctx;
use crate::ids;
use serde_json::{json, Map, Value};
use switchboard_core::content::{
    self as canon, CardData, MediaData, Node, RichTextData, ShareChatData, ShareUserData, TextData,
};
use switchboard_core::error::Error;
use switchboard_core::model::{App, Content, Mention, MentionTarget, MessageType, OriginalContent};
use switchboard_core::store::UserKey;
use switchboard_core::Core;

const TEXT_LIMIT: usize = 150 * 1024;
const RICH_LIMIT: usize = 30 * 1024;

/// A parsed incoming message body.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
}

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
        Err(e) => Err(e.into()),
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
                Err(e) => return Err(e.into()),
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
        data: data.into(),
        original: Some(OriginalContent {
            format: FORMAT.into(),
            value: value.into(),
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
