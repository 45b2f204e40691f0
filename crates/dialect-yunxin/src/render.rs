//! A message as Yunxin's query endpoint returns it (the documented example's `data`); sends and batch
//! sends return the same shape.

use crate::content;
use crate::error::YunxinError;
use crate::ids::{conversation_type, message_server_id, team_id};
use crate::resolve::{account_of, party_account};
use serde::Serialize;
use switchboard_core::json::Json;
use switchboard_core::model::{Actor, Chat, ChatKind, Message};
use switchboard_core::service::{Access, MessageView};
use switchboard_core::Core;

/// The query response's `data`.
///
/// `receiver_id` (p2p) and `team_id` (teams) are never both present. The modify fields
/// appear only after a modify, in the documented example's camelCase and the SDKs' snake_case.
#[derive(Debug, Clone, Serialize)]
pub struct MessageData {
    pub message_server_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_client_id: Option<String>,
    pub sender_id: String,
    pub conversation_type: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub receiver_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub team_id: Option<i64>,
    pub message_type: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub_type: Option<i64>,
    pub create_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachment: Option<Json>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(rename = "modifyAccountId", skip_serializing_if = "Option::is_none")]
    pub modify_account_id_seed: Option<String>,
    #[serde(rename = "modifyTime", skip_serializing_if = "Option::is_none")]
    pub modify_time_seed: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify_account_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modify_time: Option<i64>,
    /// 32 (REST) for messages sent through this API; absent when the sending face did not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_client_type: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thread_config: Option<ThreadConfig>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadConfig {
    /// The first message of the reply chain.
    pub thread_root: ThreadMessage,
    /// The message this one answers.
    pub thread_reply: ThreadMessage,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThreadMessage {
    pub sender_id: String,
    pub receiver_id: String,
    pub create_time: i64,
    pub message_server_id: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_client_id: Option<String>,
}

/// Accounts the caller has already resolved (a conversation's owner and peer), so that
/// rendering does not look them up again: each is the account the store answered for
/// exactly that string, so it is what `account_of` would return.
pub type Known<'a> = &'a [(Actor, &'a str)];

fn known_account(known: Known<'_>, actor: Actor) -> Option<String> {
    known
        .iter()
        .find(|(a, _)| *a == actor)
        .map(|(_, s)| (*s).to_string())
}

/// The p2p receiver of a message: the participant who is not its sender. A p2p chat's
/// members are exactly its two parties, so when both are known no lookup is needed.
async fn p2p_receiver(
    core: &Core,
    chat: &Chat,
    sender: Actor,
    known: Known<'_>,
) -> Result<String, YunxinError> {
    if known.len() == 2 && known.iter().any(|(a, _)| *a == sender) {
        if let Some((_, s)) = known.iter().find(|(a, _)| *a != sender) {
            return Ok((*s).to_string());
        }
    }
    let members = core.members(chat.tenant, chat.id).await?;
    match members.iter().map(|m| m.actor).find(|a| *a != sender) {
        Some(other) => account_of(core, chat.tenant, other).await,
        None => Ok(String::new()),
    }
}

async fn thread_message(
    core: &Core,
    chat: &Chat,
    m: &Message,
) -> Result<ThreadMessage, YunxinError> {
    let receiver_id = match chat.kind {
        ChatKind::P2p => p2p_receiver(core, chat, m.sender, &[]).await?,
        ChatKind::Group | ChatKind::SuperGroup => team_id(chat.id).to_string(),
    };
    Ok(ThreadMessage {
        sender_id: account_of(core, chat.tenant, m.sender).await?,
        receiver_id,
        create_time: m.created_at,
        message_server_id: message_server_id(m.id),
        message_client_id: m.client_msg_id.clone(),
    })
}

/// Renders `v` (already authorised) as Yunxin's message `data`.
pub async fn message(core: &Core, v: &MessageView) -> Result<MessageData, YunxinError> {
    message_with(core, v, &[]).await
}

/// [`message`], with accounts the caller already knows.
pub async fn message_with(
    core: &Core,
    v: &MessageView,
    known: Known<'_>,
) -> Result<MessageData, YunxinError> {
    let m = &v.message;
    let chat = &v.chat;
    let tenant = chat.tenant;
    let sender_id = match &v.sender {
        Some(p) => party_account(p),
        None => m.sender.raw_id().to_string(),
    };
    let (receiver_id, team) = match chat.kind {
        ChatKind::P2p => (Some(p2p_receiver(core, chat, m.sender, known).await?), None),
        ChatKind::Group | ChatKind::SuperGroup => (None, Some(team_id(chat.id))),
    };
    let (modify_account, modify_time) = match &m.edit {
        Some(e) => match known_account(known, e.by) {
            Some(a) => (Some(a), Some(e.at)),
            None => (Some(account_of(core, tenant, e.by).await?), Some(e.at)),
        },
        None => (None, None),
    };
    let thread_config = match m.parent {
        Some(parent) => {
            let root = m.root.unwrap_or(parent);
            // Parent and root live in the same chat, which the caller may read.
            let fetch = |id| core.get(tenant, Access::Admin, Some(chat.id), id);
            let reply = fetch(parent).await?;
            let root = if root == parent {
                reply.clone()
            } else {
                fetch(root).await?
            };
            Some(ThreadConfig {
                thread_root: thread_message(core, chat, &root.message).await?,
                thread_reply: thread_message(core, chat, &reply.message).await?,
            })
        }
        None => None,
    };
    let r = content::outgoing(v);
    Ok(MessageData {
        message_server_id: message_server_id(m.id),
        message_client_id: m.client_msg_id.clone(),
        sender_id,
        conversation_type: conversation_type(chat.kind),
        receiver_id,
        team_id: team,
        message_type: r.message_type,
        sub_type: r.sub_type,
        create_time: m.created_at,
        text: r.text,
        attachment: r.attachment,
        extension: r.extension,
        modify_account_id_seed: modify_account.clone(),
        modify_time_seed: modify_time,
        modify_account_id: modify_account,
        modify_time,
        sender_client_type: m.extra.client_type,
        thread_config,
    })
}
