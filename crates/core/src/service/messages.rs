//! Writing messages: send, reply, import, edit, recall and forward.

use super::validate::*;
use super::*;
use crate::error::{Conflict, Denied, Entity, Error, Result, Window};
use crate::ids::{ChatId, MessageId, TenantId};
use crate::model::*;
use crate::store::*;
use std::collections::HashMap;

/// Where a message goes: into a chat, or to a user or app directly (the p2p chat between
/// the sender and them, created on first use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    Chat(ChatId),
    Direct(Actor),
}

impl From<ChatId> for Recipient {
    fn from(c: ChatId) -> Self {
        Recipient::Chat(c)
    }
}

/// Sends a message. Everything about the message is checked before anything is written: a
/// refused message to [`Recipient::Direct`] leaves no new p2p chat behind.
#[derive(Debug, Clone)]
pub struct Send {
    pub tenant: TenantId,
    pub to: Recipient,
    pub sender: Actor,
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
    pub reply_to: Option<MessageId>,
    pub reply_in_thread: bool,
    pub client_msg_id: Option<String>,
    /// Overrides the configured idempotency window.
    pub idempotency_window_ms: Option<i64>,
    pub extra: MessageExtra,
}

impl Send {
    /// A plain send with no reply, mentions or idempotency key.
    pub fn new(
        tenant: TenantId,
        to: impl Into<Recipient>,
        sender: Actor,
        kind: MessageType,
        content: Content,
    ) -> Self {
        Send {
            tenant,
            to: to.into(),
            sender,
            kind,
            content,
            mentions: vec![],
            reply_to: None,
            reply_in_thread: false,
            client_msg_id: None,
            idempotency_window_ms: None,
            extra: MessageExtra::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Edit {
    pub tenant: TenantId,
    pub actor: Actor,
    pub id: MessageId,
    pub kind: MessageType,
    pub content: Content,
    pub mentions: Vec<Mention>,
    /// Message types this edit may apply to (the dialect's rule); empty means any.
    pub editable: &'static [MessageType],
    /// Who may edit: only the sender (`true`), or the sender and, in a group, its owner and
    /// admins (`false`).
    pub sender_only: bool,
    pub max_edits: Option<u32>,
    /// Only messages younger than this may be edited.
    pub window_ms: Option<i64>,
    /// A second edit must wait this long after the previous one (checked atomically).
    pub min_interval_ms: Option<i64>,
    /// Replaces the message's API-specific fields (sub-type, extension) when given.
    pub extra: Option<MessageExtra>,
}

#[derive(Debug, Clone)]
pub struct Recall {
    pub tenant: TenantId,
    pub actor: Actor,
    pub id: MessageId,
    pub kind: RemovalKind,
    /// A sender may remove its own message only within this window.
    pub window_ms: Option<i64>,
    /// A chat owner or admin may remove others' messages (within this window, if any).
    pub admin_window_ms: Option<Option<i64>>,
}

#[derive(Debug, Clone)]
pub struct MergeForward {
    pub tenant: TenantId,
    pub actor: Actor,
    pub target: ChatId,
    pub ids: Vec<MessageId>,
    pub title: Option<String>,
    pub client_msg_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct MergeForwarded {
    pub container: MessageView,
    pub children: Vec<Message>,
    /// Requested ids that could not be forwarded (missing, removed or unreadable).
    pub invalid: Vec<MessageId>,
}

impl Core {
    // ----- messages ------------------------------------------------------------------

    /// The mention limit alone, for a dialect to apply before it looks each mention up (a
    /// request naming thousands would otherwise cost thousands of reads before the refusal).
    pub fn check_mention_count(&self, n: usize) -> Result<()> {
        if n > self.config.max_mentions {
            return Err(Error::invalid(
                "mentions",
                format!("at most {} mentions", self.config.max_mentions),
            ));
        }
        Ok(())
    }

    pub(super) fn check_content(&self, content: &Content, mentions: &[Mention]) -> Result<()> {
        let max = self.config.max_content_bytes;
        // The payloads are held as their JSON text: the size is the sum of the texts.
        let size = content.text.len()
            + content.data.as_str().len()
            + content
                .original
                .as_ref()
                .map_or(0, |o| o.value.as_str().len());
        if size > max {
            return Err(Error::invalid(
                "content",
                format!("larger than {} bytes", self.config.max_content_bytes),
            ));
        }
        self.check_mention_count(mentions.len())?;
        for (i, m) in mentions.iter().enumerate() {
            if m.key.is_empty() || m.key.len() > 64 {
                return Err(Error::invalid(
                    "mentions",
                    "mention key must be 1 to 64 characters",
                ));
            }
            if mentions[..i].iter().any(|o| o.key == m.key) {
                return Err(Error::invalid(
                    "mentions",
                    format!("duplicate mention key {:?}", m.key),
                ));
            }
        }
        Ok(())
    }

    pub(super) async fn check_mentions(
        &self,
        tenant: TenantId,
        mentions: &[Mention],
    ) -> Result<()> {
        for m in mentions {
            let target = match m.target {
                MentionTarget::All => continue,
                MentionTarget::User(u) => Actor::User(u),
                MentionTarget::App(a) => Actor::App(a),
            };
            if self.party(tenant, target).await.is_err() {
                return Err(Error::invalid(
                    "mentions",
                    format!("mentioned {} {} does not exist", target.kind(), m.key),
                ));
            }
        }
        Ok(())
    }

    /// Checks a message's content and mentions as [`Core::send`] and [`Core::edit`] do,
    /// without writing anything: for a dialect that answers one request with several sends
    /// and refuses a bad message once, before any of them.
    pub async fn check_message(
        &self,
        tenant: TenantId,
        content: &Content,
        mentions: &[Mention],
    ) -> Result<()> {
        self.check_content(content, mentions)?;
        self.check_mentions(tenant, mentions).await
    }

    /// Sends a message as a member of the chat (user or app), or directly to a party.
    pub async fn send(&self, cmd: Send) -> Result<MessageView> {
        let chat = match cmd.to {
            Recipient::Chat(id) => {
                // The chat and the membership in one read.
                let found = self.store.chat_and_member(id, cmd.sender).await?;
                let chat = open_to_sender(cmd.tenant, found)?;
                self.check_message(cmd.tenant, &cmd.content, &cmd.mentions)
                    .await?;
                check_client_msg_id(cmd.client_msg_id.as_deref())?;
                chat
            }
            Recipient::Direct(peer) => {
                // Checked before the p2p chat is created, which the sender is then a
                // member of by construction.
                self.check_message(cmd.tenant, &cmd.content, &cmd.mentions)
                    .await?;
                check_client_msg_id(cmd.client_msg_id.as_deref())?;
                let chat = self.ensure_p2p(cmd.tenant, cmd.sender, peer).await?;
                if chat.dissolved_at.is_some() {
                    return Err(Error::Conflict(Conflict::ChatDissolved));
                }
                chat
            }
        };
        let (parent, root, thread) = match cmd.reply_to {
            None => (None, None, None),
            Some(pid) => {
                let p = self.message_in(cmd.tenant, pid).await?;
                if p.chat != chat.id {
                    return Err(Error::NotFound(Entity::Message));
                }
                if let Some(r) = &p.removal {
                    return Err(Error::Conflict(Conflict::MessageRemoved(r.kind)));
                }
                let root = p.root.unwrap_or(p.id);
                match p.thread {
                    // Inside a thread every reply answers the thread's root.
                    Some(t) => (Some(t), Some(t), Some(t)),
                    None if cmd.reply_in_thread => (Some(root), Some(root), Some(root)),
                    None => (Some(p.id), Some(root), None),
                }
            }
        };
        // A stored file's name, type and size fill what the content leaves out.
        let content = self
            .describe_files(cmd.tenant, cmd.kind, cmd.content)
            .await?;
        let new = NewMessage {
            mentions: cmd.mentions,
            parent,
            root,
            thread,
            client_msg_id: cmd.client_msg_id,
            idempotency_window_ms: cmd
                .idempotency_window_ms
                .unwrap_or(self.config.idempotency_window_ms),
            ..plain_message(
                (cmd.tenant, chat.id, cmd.sender),
                cmd.kind,
                content,
                self.now_ms(),
                cmd.extra,
            )
        };
        let appended = self.store.append_message(new).await?;
        self.changed();
        self.view(appended.message, chat).await
    }

    /// Imports history: appends `items` in order, as their senders, in one batch. Each
    /// item's `created_at` (the original send time) is kept where it does not go backwards
    /// within its chat. Senders must be members and chats open; content is validated as in
    /// [`Core::send`]. Replies, mentions and idempotency keys are not supported here.
    pub async fn import(
        &self,
        tenant: TenantId,
        items: Vec<(Send, Option<Millis>)>,
    ) -> Result<Vec<Message>> {
        // Every (chat, sender) pair of the batch read at once (one round trip on a remote
        // store), then checked item by item, so the first bad item is the one reported.
        let mut pairs = Vec::new();
        let mut seen = HashMap::new();
        for (cmd, _) in &items {
            let Recipient::Chat(chat) = cmd.to else {
                continue;
            };
            seen.entry((chat, cmd.sender)).or_insert_with(|| {
                pairs.push((chat, cmd.sender));
                pairs.len() - 1
            });
        }
        let found = self.store.chats_and_members(&pairs).await?;
        let mut batch = Vec::with_capacity(items.len());
        let now = self.now_ms();
        for (cmd, created_at) in items {
            let Recipient::Chat(to) = cmd.to else {
                return Err(Error::invalid(
                    "items",
                    "imported messages go into a chat, not directly to a party",
                ));
            };
            if cmd.tenant != tenant || cmd.reply_to.is_some() || !cmd.mentions.is_empty() {
                return Err(Error::invalid(
                    "items",
                    "imported messages carry no reply, mention or other tenant",
                ));
            }
            // Refused as a send is refused.
            let (chat, member) = &found[seen[&(to, cmd.sender)]];
            open_to_sender(tenant, (chat.as_ref(), member.as_ref()))?;
            self.check_content(&cmd.content, &cmd.mentions)?;
            batch.push(plain_message(
                (tenant, to, cmd.sender),
                cmd.kind,
                cmd.content,
                created_at.unwrap_or(now),
                cmd.extra,
            ));
        }
        Ok(self.store.append_batch(batch).await?)
    }

    /// A message of `tenant`, whatever its state (no access check).
    pub(super) async fn message_in(&self, tenant: TenantId, id: MessageId) -> Result<Message> {
        match self.store.get_message(id).await? {
            Some(m) if m.tenant == tenant => Ok(m),
            _ => Err(Error::NotFound(Entity::Message)),
        }
    }

    pub async fn edit(&self, cmd: Edit) -> Result<MessageView> {
        let msg = self.message_in(cmd.tenant, cmd.id).await?;
        let chat = self.chat(cmd.tenant, msg.chat).await?;
        let member = self.check_access(&chat, Access::Member(cmd.actor)).await?;
        if let Some(r) = &msg.removal {
            return Err(Error::Conflict(Conflict::MessageRemoved(r.kind)));
        }
        if msg.sender != cmd.actor {
            if cmd.sender_only || chat.kind == ChatKind::P2p {
                return Err(Error::Forbidden(Denied::NotSender));
            }
            if !member.is_some_and(|m| matches!(m.role, Role::Owner | Role::Admin)) {
                return Err(Error::Forbidden(Denied::NotChatAdmin));
            }
        }
        if !cmd.editable.is_empty() && !cmd.editable.contains(&msg.kind) {
            return Err(Error::Conflict(Conflict::WrongMessageType));
        }
        let now = self.now_ms();
        if cmd.window_ms.is_some_and(|w| now - msg.created_at > w) {
            return Err(Error::Conflict(Conflict::WindowPassed(Window::Edit)));
        }
        self.check_content(&cmd.content, &cmd.mentions)?;
        self.check_mentions(cmd.tenant, &cmd.mentions).await?;
        let update = MessageUpdate::Edit {
            kind: cmd.kind,
            content: cmd.content,
            mentions: cmd.mentions,
            by: cmd.actor,
            at: now,
            max_edits: cmd.max_edits,
            min_interval_ms: cmd.min_interval_ms,
            extra: cmd.extra,
        };
        let updated = self.store.update_message(cmd.id, update).await?;
        self.changed();
        self.view(updated, chat).await
    }

    pub async fn recall(&self, cmd: Recall) -> Result<MessageView> {
        let msg = self.message_in(cmd.tenant, cmd.id).await?;
        let chat = self.chat(cmd.tenant, msg.chat).await?;
        let member = self.check_access(&chat, Access::Member(cmd.actor)).await?;
        if let Some(r) = &msg.removal {
            return Err(Error::Conflict(Conflict::AlreadyRemoved(r.kind)));
        }
        let age = self.now_ms() - msg.created_at;
        if msg.sender == cmd.actor {
            if cmd.window_ms.is_some_and(|w| age > w) {
                return Err(Error::Conflict(Conflict::WindowPassed(Window::Recall)));
            }
        } else {
            let privileged = member.is_some_and(|m| matches!(m.role, Role::Owner | Role::Admin));
            match cmd.admin_window_ms {
                None => return Err(Error::Forbidden(Denied::NotSender)),
                Some(_) if !privileged => return Err(Error::Forbidden(Denied::NotChatAdmin)),
                Some(Some(w)) if age > w => {
                    return Err(Error::Conflict(Conflict::WindowPassed(Window::Recall)))
                }
                Some(_) => {}
            }
        }
        let removal = Removal {
            kind: cmd.kind,
            by: cmd.actor,
            at: self.now_ms(),
        };
        let updated = self
            .store
            .update_message(cmd.id, MessageUpdate::Remove(removal))
            .await?;
        self.changed();
        self.view(updated, chat).await
    }

    /// Forwards a copy of one message into `target` as `actor`.
    pub async fn forward(
        &self,
        tenant: TenantId,
        actor: Actor,
        id: MessageId,
        target: ChatId,
        client_msg_id: Option<String>,
    ) -> Result<MessageView> {
        let src = self.get(tenant, Access::Member(actor), None, id).await?;
        if let Some(r) = &src.message.removal {
            return Err(Error::Conflict(Conflict::MessageRemoved(r.kind)));
        }
        let m = src.message;
        let mut cmd = Send::new(tenant, target, actor, m.kind, m.content);
        cmd.mentions = m.mentions;
        cmd.client_msg_id = client_msg_id;
        cmd.extra = m.extra;
        self.send(cmd).await
    }

    /// Sends a merge-forward container into `target`, holding copies of `ids`.
    pub async fn merge_forward(&self, cmd: MergeForward) -> Result<MergeForwarded> {
        if cmd.ids.is_empty() || cmd.ids.len() > 100 {
            return Err(Error::invalid(
                "message_id_list",
                "must hold 1 to 100 message ids",
            ));
        }
        check_client_msg_id(cmd.client_msg_id.as_deref())?;
        let target = self.chat(cmd.tenant, cmd.target).await?;
        if target.dissolved_at.is_some() {
            return Err(Error::Conflict(Conflict::ChatDissolved));
        }
        self.check_access(&target, Access::Member(cmd.actor))
            .await?;
        let mut sources = Vec::new();
        let mut invalid = Vec::new();
        for id in cmd.ids {
            match self
                .get(cmd.tenant, Access::Member(cmd.actor), None, id)
                .await
            {
                Ok(v)
                    if v.message.removal.is_none()
                        && !sources.iter().any(|s: &Message| s.id == id) =>
                {
                    sources.push(v.message)
                }
                Ok(_) | Err(Error::NotFound(_)) | Err(Error::Forbidden(_)) => invalid.push(id),
                Err(e) => return Err(e),
            }
        }
        if sources.is_empty() {
            return Err(Error::invalid("message_id_list", "no forwardable message"));
        }
        let now = self.now_ms();
        let title = match cmd.title {
            Some(t) => valid_name("title", &t, 256)?,
            None => "Chat history".to_string(),
        };
        let content = Content {
            text: title.clone(),
            data: serde_json::json!({ "title": title, "source_ids": sources.iter().map(|s| s.id.get()).collect::<Vec<_>>() }).into(),
            original: None,
        };
        let container = NewMessage {
            client_msg_id: cmd.client_msg_id,
            idempotency_window_ms: self.config.idempotency_window_ms,
            ..plain_message(
                (cmd.tenant, target.id, cmd.actor),
                MessageType::MergeForward,
                content,
                now,
                MessageExtra::default(),
            )
        };
        let children = sources
            .into_iter()
            .map(|s| NewMessage {
                mentions: s.mentions,
                copied_from: Some(s.id),
                ..plain_message(
                    (cmd.tenant, target.id, s.sender),
                    s.kind,
                    s.content,
                    s.created_at,
                    s.extra,
                )
            })
            .collect();
        let (c, kids) = self.store.append_merge_forward(container, children).await?;
        self.changed();
        Ok(MergeForwarded {
            container: self.view(c, target).await?,
            children: kids,
            invalid,
        })
    }
}

/// A message of `sender` in `chat` with no mentions, reply, copy source or idempotency key:
/// what every append starts from, the command then filling in what it has.
fn plain_message(
    (tenant, chat, sender): (TenantId, ChatId, Actor),
    kind: MessageType,
    content: Content,
    created_at: Millis,
    extra: MessageExtra,
) -> NewMessage {
    NewMessage {
        tenant,
        chat,
        sender,
        kind,
        content,
        mentions: Vec::new(),
        created_at,
        parent: None,
        root: None,
        thread: None,
        copied_from: None,
        client_msg_id: None,
        idempotency_window_ms: 0,
        extra,
    }
}
