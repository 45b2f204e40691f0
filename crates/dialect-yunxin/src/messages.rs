//! Message endpoints: query one, send, batch p2p send, recall/delete, modify.

use crate::auth::Caller;
use crate::content::{self, MentionRef, MAX_DESCRIPTION, MAX_TEXT};
use crate::error::{code, ok, ok_empty, YunxinError};
use crate::events;
use crate::extract::{parse_long, Long, YxJson, YxPath, YxQuery};
use crate::ids::{
    conversation_type, conversation_type_name, parse_message_server_id, ConversationId,
};
use crate::render::{self, MessageData};
use crate::resolve::{self, Target};
use crate::YunxinState;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::error::Error;
use switchboard_core::ids::{MessageId, TenantId};
use switchboard_core::input;
use switchboard_core::model::{
    Actor, Chat, ChatKind, MentionTarget, Message, MessageExtra, RemovalKind,
};
use switchboard_core::service::{Access, Edit, MessageView, Party, Recall, Recipient, Send};
use switchboard_core::Core;

const DAY_MS: i64 = 86_400_000;
/// One-way recall (type 1) and delete (type 3) reach back this far.
const LONG_RECALL_WINDOW_MS: i64 = 30 * DAY_MS;
/// Only messages younger than this can be modified.
const MODIFY_WINDOW_MS: i64 = 7 * DAY_MS;
/// A message may be modified at most once within this interval.
const MODIFY_INTERVAL_MS: i64 = 1000;
/// Batch p2p send: at most this many receivers.
const MAX_BATCH: usize = 100;

/// `push_config`: only the force-push (mention) part matters here.
#[derive(Debug, Default, Deserialize)]
pub struct PushConfig {
    push_forcepush_enable: Option<bool>,
    push_forcepush_all: Option<bool>,
    push_forcepush_ids: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ThreadConfigIn {
    thread_root: Option<ThreadRef>,
    thread_reply: Option<ThreadRef>,
}

#[derive(Debug, Default, Deserialize)]
pub struct ThreadRef {
    message_server_id: Option<Long>,
}

/// `POST …/conversations/{conversation_id}/messages`. The option blocks
/// (`message_config`, `team_option`, …) are accepted and have no effect, but for
/// `route_config.route_enabled=false` (or v1's `route=0`): the message is not copied
/// ([`crate::events`]).
#[derive(Debug, Deserialize)]
pub struct SendBody {
    message: Option<Value>,
    thread_config: Option<ThreadConfigIn>,
    push_config: Option<PushConfig>,
    extension: Option<Value>,
    route_config: Option<Value>,
    route: Option<Value>,
}

/// Resolves `push_config`'s force-push list to mentions.
async fn mention_refs(
    core: &Core,
    tenant: TenantId,
    pc: Option<&PushConfig>,
) -> Result<Vec<MentionRef>, YunxinError> {
    let Some(pc) = pc else { return Ok(vec![]) };
    if pc.push_forcepush_enable == Some(false) {
        return Ok(vec![]);
    }
    let ids = pc.push_forcepush_ids.as_deref().unwrap_or_default();
    if ids.len() > 100 {
        return Err(YunxinError::param(
            "push_config.push_forcepush_ids holds more than 100 accounts",
        ));
    }
    let mut out: Vec<MentionRef> = Vec::new();
    for id in ids {
        let actor = resolve::actor(core, tenant, id).await?;
        let target = match actor {
            Actor::User(u) => MentionTarget::User(u),
            Actor::App(a) => MentionTarget::App(a),
        };
        if out.iter().any(|m| m.target == target) {
            continue;
        }
        let name = match core.party(tenant, actor).await? {
            Party::User(u) => u.name,
            Party::App(a) => a.name,
        };
        out.push(MentionRef {
            target,
            aliases: vec![name.clone(), id.clone()],
            name,
        });
    }
    if pc.push_forcepush_all == Some(true) {
        out.push(MentionRef {
            target: MentionTarget::All,
            name: "all".into(),
            aliases: vec!["所有人".into(), "all".into(), "All".into()],
        });
    }
    Ok(out)
}

/// The message a `thread_config` replies to, and the root it claims, if any.
fn thread_target(
    tc: Option<&ThreadConfigIn>,
) -> Result<Option<(MessageId, Option<MessageId>)>, YunxinError> {
    let Some(tc) = tc else { return Ok(None) };
    let id = |r: &Option<ThreadRef>, what: &str| -> Result<Option<MessageId>, YunxinError> {
        match r.as_ref().and_then(|r| r.message_server_id) {
            None => Ok(None),
            Some(Long(raw)) => MessageId::from_raw(raw).map(Some).ok_or_else(|| {
                YunxinError::new(
                    code::MESSAGE_NOT_FOUND,
                    format!("message not exist: thread_config.{what}.message_server_id {raw}"),
                )
            }),
        }
    };
    let root = id(&tc.thread_root, "thread_root")?;
    let reply = id(&tc.thread_reply, "thread_reply")?;
    match (reply, root) {
        (Some(reply), root) => Ok(Some((reply, root))),
        (None, Some(root)) => Ok(Some((root, Some(root)))),
        (None, None) => Err(YunxinError::param(
            "thread_config needs thread_reply.message_server_id (or thread_root.message_server_id)",
        )),
    }
}

fn extra(d: &content::Draft, extension: Option<String>) -> MessageExtra {
    MessageExtra {
        sub_type: d.sub_type,
        extension,
        client_type: Some(content::CLIENT_TYPE_REST),
    }
}

/// Sends one draft to `to` as `sender`, refusing a client id reused across chats.
/// `known`: accounts already resolved for this chat (see [`render::message_with`]).
#[allow(clippy::too_many_arguments)]
async fn send_draft(
    core: &Core,
    tenant: TenantId,
    known: render::Known<'_>,
    to: Recipient,
    sender: Actor,
    d: content::Draft,
    extension: Option<String>,
    reply_to: Option<MessageId>,
) -> Result<MessageData, YunxinError> {
    let mut cmd = Send::new(tenant, to, sender, d.kind, d.content.clone());
    cmd.extra = extra(&d, extension);
    cmd.mentions = d.mentions;
    cmd.reply_to = reply_to;
    cmd.client_msg_id = d.client_id;
    let v = core.send(cmd).await?;
    if v.message.chat != v.chat.id {
        // The store answered with the sender's earlier message of that client id.
        return Err(YunxinError::param(
            "message_client_id was already used by this sender in another conversation",
        ));
    }
    render::message_with(core, &v, known).await
}

/// Send a message: <https://doc.yunxin.163.com/messaging2/server-apis/DEzNTMwNTY?platform=server>
/// (`POST /im/v2/conversations/{conversation_id}/messages`), as the conversation's owner.
pub async fn send(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(cid): YxPath<String>,
    YxJson(body): YxJson<SendBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let raw = body
        .message
        .as_ref()
        .ok_or_else(|| YunxinError::param("message is required"))?;
    let extension = content::extension_text(body.extension.as_ref())?;
    let mentions = mention_refs(core, tenant, body.push_config.as_ref()).await?;
    let mut draft = content::incoming(raw, body.extension.as_ref(), &mentions, MAX_TEXT)?;
    if events::route_disabled(body.route_config.as_ref(), body.route.as_ref())? {
        events::mark_not_copied(&mut draft.content);
    }
    let thread = thread_target(body.thread_config.as_ref())?;
    let conv = resolve::conversation(core, tenant, &cid).await?;
    let to = match &conv.target {
        Target::P2p { chat: Some(c), .. } | Target::Team { chat: Some(c), .. } => {
            Recipient::Chat(c.id)
        }
        Target::P2p { chat: None, .. } if thread.is_some() => {
            return Err(YunxinError::message_not_found())
        }
        Target::P2p { peer, chat: None } => Recipient::Direct(*peer),
        Target::Team { chat: None, .. } => return Err(YunxinError::team_not_found()),
    };
    let reply_to = match (thread, to) {
        (Some((reply, Some(root))), Recipient::Chat(chat)) if root != reply => {
            let parent = core
                .get(tenant, Access::Member(conv.owner), Some(chat), reply)
                .await?;
            if parent.message.root.unwrap_or(parent.message.id) != root {
                return Err(YunxinError::param(
                    "thread_config.thread_root is not the root of thread_reply's thread",
                ));
            }
            Some(reply)
        }
        (other, _) => other.map(|(reply, _)| reply),
    };
    Ok(ok(send_draft(
        core,
        tenant,
        &conv.known(),
        to,
        conv.owner,
        draft,
        extension,
        reply_to,
    )
    .await?))
}

#[derive(Debug, Deserialize)]
pub struct BatchBody {
    sender_id: Option<String>,
    receiver_ids: Option<Vec<String>>,
    message: Option<Value>,
    push_config: Option<PushConfig>,
    extension: Option<Value>,
    route_config: Option<Value>,
    route: Option<Value>,
}

#[derive(Debug, Serialize)]
struct Failed {
    receiver_id: String,
    error_code: i64,
    error_msg: String,
}

/// Batch p2p send (`POST /im/v2/conversations/messages`): one message from `sender_id` to each
/// of up to 100 `receiver_ids`, each in its own p2p conversation.
/// <https://doc.yunxin.163.com/messaging2/server-apis/DEzNTMwNTY?platform=server>
///
/// A receiver that fails lands in `failed_list` and does not fail the others. With a
/// `message_client_id`, each receiver's copy is keyed `<message_client_id>:<receiver_id>`,
/// so a retried batch sends nothing twice.
pub async fn batch_send(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxJson(body): YxJson<BatchBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let sender_id = body
        .sender_id
        .as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| YunxinError::param("sender_id is required"))?;
    let mut receivers: Vec<String> = Vec::new();
    for r in body.receiver_ids.unwrap_or_default() {
        if !receivers.contains(&r) {
            receivers.push(r);
        }
    }
    if receivers.is_empty() || receivers.len() > MAX_BATCH {
        return Err(YunxinError::param(format!(
            "receiver_ids must hold 1 to {MAX_BATCH} accounts"
        )));
    }
    let raw = body
        .message
        .as_ref()
        .ok_or_else(|| YunxinError::param("message is required"))?;
    let extension = content::extension_text(body.extension.as_ref())?;
    let mentions = mention_refs(core, tenant, body.push_config.as_ref()).await?;
    let mut draft = content::incoming(raw, body.extension.as_ref(), &mentions, MAX_TEXT)?;
    if events::route_disabled(body.route_config.as_ref(), body.route.as_ref())? {
        events::mark_not_copied(&mut draft.content);
    }
    // Content too large for the domain is refused once, not once per receiver (its
    // mentions are checked per receiver, by each send).
    core.check_message(tenant, &draft.content, &[]).await?;
    let sender = resolve::actor(core, tenant, sender_id).await?;
    let mut success_list = Vec::new();
    let mut failed_list = Vec::new();
    for r in receivers {
        let one = async {
            let peer = resolve::actor(core, tenant, &r).await?;
            if peer == sender {
                return Err(YunxinError::param("a receiver must differ from the sender"));
            }
            let mut d = draft.clone();
            if let Some(c) = &draft.client_id {
                let keyed = format!("{c}:{r}");
                if keyed.len() > 128 {
                    return Err(YunxinError::param(
                        "message_client_id plus receiver_id must be at most 127 characters",
                    ));
                }
                d.client_id = Some(keyed);
            }
            let known = [(sender, sender_id), (peer, r.as_str())];
            send_draft(
                core,
                tenant,
                &known,
                Recipient::Direct(peer),
                sender,
                d,
                extension.clone(),
                None,
            )
            .await
        };
        match one.await {
            Ok(data) => success_list.push(data),
            Err(e) => failed_list.push(Failed {
                receiver_id: r,
                error_code: e.code,
                error_msg: e.msg,
            }),
        }
    }
    Ok(ok(
        serde_json::json!({ "success_list": success_list, "failed_list": failed_list }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct QueryParams {
    message_time: Option<String>,
    /// Booleans in every spelling the SDKs send (`switchboard_core::input::opt_bool`).
    #[serde(default, deserialize_with = "input::opt_bool")]
    check_team_valid: Option<bool>,
    #[serde(default, deserialize_with = "input::opt_bool")]
    check_team_member_valid: Option<bool>,
}

fn message_time(v: Option<&str>) -> Result<Option<i64>, YunxinError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse_long(s)
            .map(|l| Some(l.0))
            .ok_or_else(|| YunxinError::param(format!("message_time {s:?} is not a Long"))),
    }
}

fn message_id(seg: &str) -> Result<MessageId, YunxinError> {
    parse_message_server_id(seg)
        .map_err(YunxinError::param)?
        .ok_or_else(YunxinError::message_not_found)
}

/// What the owner of a conversation still sees of a message. A two-way recall (type 2) and a
/// delete (type 3) remove it for everyone; a one-way recall (type 1) removes it for the
/// receivers only, so the sender's own conversation still returns it.
pub(crate) fn visible_to(m: &Message, owner: Actor) -> bool {
    match &m.removal {
        None => true,
        Some(r) => r.kind == RemovalKind::RecalledOneWay && m.sender == owner,
    }
}

/// Query one message (the vendor's documented "get one message"): `GET /im/v2/conversations/{conversation_id}/messages/{message_server_id}`,
/// also under `/im/v2.1`. <https://doc.yunxin.163.com/messaging2/server-apis/DEzNTMwNTY?platform=server>
pub async fn query(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath((cid, mid)): YxPath<(String, String)>,
    YxQuery(q): YxQuery<QueryParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let time = message_time(q.message_time.as_deref())?;
    let check_team = q.check_team_valid.unwrap_or(false);
    let check_member = q.check_team_member_valid.unwrap_or(false);
    let id = message_id(&mid)?;
    if let Some((owner, account, v)) = query_team_directly(core, tenant, &cid, id, check_team).await
    {
        if !visible_to(&v.message, owner) || time.is_some_and(|t| t != v.message.created_at) {
            return Err(YunxinError::message_not_found());
        }
        let known = [(owner, account.as_str())];
        return Ok(ok(render::message_with(core, &v, &known).await?));
    }
    let conv = resolve::conversation(core, tenant, &cid).await?;
    let chat = conv.readable_chat(core, check_team, check_member).await?;
    let v = core
        .get(tenant, Access::Member(conv.owner), Some(chat.id), id)
        .await?;
    if !visible_to(&v.message, conv.owner) || time.is_some_and(|t| t != v.message.created_at) {
        return Err(YunxinError::message_not_found());
    }
    Ok(ok(render::message_with(core, &v, &conv.known()).await?))
}

/// A team conversation's query in one read: `Core::get` as the owner checks the team's
/// existence, its tenant and the owner's membership together with the message, where the
/// step-by-step path (`resolve::conversation`, `readable_chat`, `get`) reads the team, then
/// the membership, then the message. Only a success is taken from here, and only when the
/// step-by-step path would have succeeded with the same answer (the team is of the id's
/// kind and, with `check_team_valid`, not dissolved); anything else returns `None`, and the
/// step-by-step path then finds the precise error. Returns the owner, its account and the
/// message.
async fn query_team_directly(
    core: &Core,
    tenant: TenantId,
    cid: &str,
    id: MessageId,
    check_team: bool,
) -> Option<(Actor, String, MessageView)> {
    let conv = ConversationId::parse(cid).ok()?;
    if conv.kind == ChatKind::P2p || conv.team()? != id.chat() {
        return None;
    }
    let owner = resolve::actor(core, tenant, &conv.owner).await.ok()?;
    let v = core
        .get(tenant, Access::Member(owner), Some(id.chat()), id)
        .await
        .ok()?;
    let usable = v.chat.kind == conv.kind && !(check_team && v.chat.dissolved_at.is_some());
    usable.then_some((owner, conv.owner, v))
}

#[derive(Debug, Deserialize)]
pub struct WithdrawParams {
    #[serde(rename = "type")]
    kind: Option<String>,
    message_time: Option<String>,
    #[serde(default, deserialize_with = "input::opt_bool")]
    check_team_member_valid: Option<bool>,
    #[serde(default, deserialize_with = "input::opt_bool")]
    ignore_revoke_time: Option<bool>,
}

/// A validated recall request.
struct Withdrawal {
    kind: RemovalKind,
    time: Option<i64>,
    check_member: bool,
    unlimited: bool,
}

impl TryFrom<WithdrawParams> for Withdrawal {
    type Error = YunxinError;

    fn try_from(q: WithdrawParams) -> Result<Self, YunxinError> {
        let kind = match q.kind.as_deref().map(str::trim) {
            Some("1") => RemovalKind::RecalledOneWay,
            Some("2") => RemovalKind::Recalled,
            Some("3") => RemovalKind::Deleted,
            None | Some("") => {
                return Err(YunxinError::param(
                    "type is required: 1 (one-way recall), 2 (two-way recall) or 3 (delete)",
                ))
            }
            Some(other) => {
                return Err(YunxinError::param(format!(
                    "type must be 1, 2 or 3, not {other:?}"
                )))
            }
        };
        Ok(Withdrawal {
            kind,
            time: message_time(q.message_time.as_deref())?,
            check_member: q.check_team_member_valid.unwrap_or(false),
            unlimited: q.ignore_revoke_time.unwrap_or(false),
        })
    }
}

impl Withdrawal {
    /// The sender's window, and the team managers' (`None` in p2p: only the sender may).
    fn windows(&self, yx: &YunxinState, chat: &Chat) -> (Option<i64>, Option<Option<i64>>) {
        let window = match self.kind {
            _ if self.unlimited => None,
            RemovalKind::Recalled => Some(yx.two_way_window_ms()),
            _ => Some(LONG_RECALL_WINDOW_MS),
        };
        (window, (chat.kind != ChatKind::P2p).then_some(window))
    }
}

/// Recall or delete: `DELETE /im/v2/conversations/{conversation_id}/messages/{message_server_id}?type=1|2|3`,
/// as the conversation's owner. <https://doc.yunxin.163.com/messaging2/server-apis/DEzNTMwNTY?platform=server>
///
/// Type 1 (one-way recall) and 3 (delete) apply to p2p and advanced teams within 30 days;
/// type 2 (two-way recall) to every conversation within the configured window (default
/// 2 minutes). A team's owner and managers may remove others' messages within the same
/// windows. `ignore_revoke_time=1` lifts the window.
pub async fn withdraw(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath((cid, mid)): YxPath<(String, String)>,
    YxQuery(q): YxQuery<WithdrawParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let w = Withdrawal::try_from(q)?;
    let id = message_id(&mid)?;
    let conv = resolve::conversation(core, tenant, &cid).await?;
    if conv.kind() == ChatKind::SuperGroup && w.kind != RemovalKind::Recalled {
        return Err(YunxinError::param(
            "super team messages can only be recalled two-way (type 2)",
        ));
    }
    let chat = conv.member_chat(core, w.check_member).await?;
    let v = core
        .get(tenant, Access::Member(conv.owner), Some(chat.id), id)
        .await?;
    if w.time.is_some_and(|t| t != v.message.created_at) {
        return Err(YunxinError::message_not_found());
    }
    let (window_ms, admin_window_ms) = w.windows(&yx, &chat);
    let cmd = Recall {
        tenant,
        actor: conv.owner,
        id,
        kind: w.kind,
        window_ms,
        admin_window_ms,
    };
    core.recall(cmd).await?;
    Ok(ok_empty())
}

#[derive(Debug, Deserialize)]
pub struct ModifyBody {
    operator: Option<String>,
    #[serde(rename = "type")]
    kind: Option<Long>,
    extension: Option<Value>,
    message: Option<Value>,
    push_config: Option<PushConfig>,
}

/// The identifying part of a modify's `message`.
#[derive(Debug, Deserialize)]
struct ModifyTarget {
    message_server_id: Option<Long>,
    receiver_id: Option<Value>,
    time: Option<Long>,
    sender_id: Option<String>,
}

/// A modify request with its required fields checked.
struct Modification {
    operator: String,
    kind: ChatKind,
    id: Option<MessageId>,
    target: ModifyTarget,
    message: Value,
    extension: Option<Value>,
    push_config: Option<PushConfig>,
}

impl TryFrom<ModifyBody> for Modification {
    type Error = YunxinError;

    fn try_from(b: ModifyBody) -> Result<Self, YunxinError> {
        let operator = b
            .operator
            .filter(|s| !s.is_empty())
            .ok_or_else(|| YunxinError::param("operator is required"))?;
        let kind = match b
            .kind
            .ok_or_else(|| YunxinError::param("type is required: the conversation type 1, 2 or 3"))?
            .0
        {
            1 => ChatKind::P2p,
            2 => ChatKind::Group,
            3 => ChatKind::SuperGroup,
            other => {
                return Err(YunxinError::param(format!(
                    "type must be 1, 2 or 3, not {other}"
                )))
            }
        };
        let message = b
            .message
            .ok_or_else(|| YunxinError::param("message is required"))?;
        let target: ModifyTarget = serde_json::from_value(message.clone())
            .map_err(|e| YunxinError::param(format!("invalid message: {e}")))?;
        let raw_id = target
            .message_server_id
            .ok_or_else(|| YunxinError::param("message.message_server_id is required"))?
            .0;
        content::extension_text(b.extension.as_ref())?;
        let id = MessageId::from_raw(raw_id);
        Ok(Modification {
            operator,
            kind,
            id,
            target,
            message,
            extension: b.extension,
            push_config: b.push_config,
        })
    }
}

impl Modification {
    /// The message to modify, as `actor` sees it, checked against the request: the
    /// conversation type (414), the identifying fields (107404) and the type (414). Who may
    /// modify (403 / 802) and how often (107449) are the domain's rules (`Core::edit`).
    async fn find(
        &self,
        core: &Core,
        tenant: TenantId,
        actor: Actor,
        new_type: i64,
    ) -> Result<MessageData, YunxinError> {
        let id = self.id.ok_or_else(YunxinError::message_not_found)?;
        let chat = match core.chat(tenant, id.chat()).await {
            Ok(c) => c,
            Err(Error::NotFound(_)) => return Err(YunxinError::message_not_found()),
            Err(e) => return Err(YunxinError::from(e)),
        };
        if chat.kind != self.kind {
            return Err(YunxinError::param(format!(
                "type {} ({}) does not match the message's conversation type {} ({})",
                conversation_type(self.kind),
                conversation_type_name(self.kind),
                conversation_type(chat.kind),
                conversation_type_name(chat.kind)
            )));
        }
        let v = core
            .get(tenant, Access::Member(actor), Some(chat.id), id)
            .await?;
        let m = &v.message;
        if m.removal.is_some() {
            return Err(YunxinError::new(
                code::MESSAGE_NOT_FOUND,
                "message not exist: it has been recalled or deleted",
            ));
        }
        let data = render::message(core, &v).await?;
        let t = &self.target;
        let receiver_matches = match (&t.receiver_id, chat.kind) {
            (None | Some(Value::Null), _) => true,
            (Some(Value::String(s)), ChatKind::P2p) => {
                data.receiver_id.as_deref() == Some(s.as_str())
            }
            (Some(r), _) => {
                serde_json::from_value::<Long>(r.clone()).ok().map(|l| l.0) == data.team_id
            }
        };
        if t.sender_id.as_deref().is_some_and(|s| s != data.sender_id)
            || !receiver_matches
            || t.time.is_some_and(|t| t.0 != m.created_at)
        {
            return Err(YunxinError::new(
                code::MESSAGE_NOT_FOUND,
                "message not exist: sender_id, receiver_id or time does not match it",
            ));
        }
        if new_type != data.message_type {
            return Err(YunxinError::param(format!(
                "message.message_type {new_type} does not match the message's type {}",
                data.message_type
            )));
        }
        Ok(data)
    }
}

/// Modify a message: `POST /im/v2/messages/actions/modifyMsg`.
/// <https://doc.yunxin.163.com/messaging2/server-apis/DEzNTMwNTY?platform=server>
///
/// `message.message_server_id` names the message; `sender_id`, `receiver_id` and `time`,
/// when given, must match it (else 107404). The sender may modify, and in a team also its
/// owner and managers; within 7 days; at most once a second (107449).
pub async fn modify(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxJson(body): YxJson<ModifyBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let req = Modification::try_from(body)?;
    let extension = content::extension_text(req.extension.as_ref())?;
    let mentions = mention_refs(core, tenant, req.push_config.as_ref()).await?;
    let draft = content::incoming(
        &req.message,
        req.extension.as_ref(),
        &mentions,
        MAX_DESCRIPTION,
    )?;
    // The content's size first, as Yunxin answers (its mentions are checked by the edit).
    core.check_message(tenant, &draft.content, &[]).await?;
    let actor = resolve::actor(core, tenant, &req.operator).await?;
    let found = req
        .find(core, tenant, actor, content::type_number(draft.kind))
        .await?;
    // Fields the modify leaves out keep their stored values.
    let extra = MessageExtra {
        sub_type: draft.sub_type.or(found.sub_type),
        extension: extension.or_else(|| found.extension.clone()),
        client_type: found.sender_client_type,
    };
    let cmd = Edit {
        tenant,
        actor,
        id: MessageId(found.message_server_id),
        kind: draft.kind,
        content: draft.content,
        mentions: draft.mentions,
        editable: &[],
        // The sender, or in a team its owner or a manager.
        sender_only: false,
        max_edits: None,
        window_ms: Some(MODIFY_WINDOW_MS),
        // At most once a second (107449), enforced atomically by the store.
        min_interval_ms: Some(MODIFY_INTERVAL_MS),
        extra: Some(extra),
    };
    core.edit(cmd).await?;
    Ok(ok_empty())
}
