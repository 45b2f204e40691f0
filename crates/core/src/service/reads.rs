//! Read state: how far each member of a chat has read, and so who has read a message.
//!
//! A member's mark only moves forward. A message's readers are the chat's current members
//! that are users, other than its sender, whose mark is at or past its position (apps read
//! nothing: the read-receipt APIs list people). Only the sender (or the operator) may list
//! a message's readers.

use super::*;
use crate::error::{Denied, Error, Result};
use crate::ids::{ChatId, MessageId, TenantId};
use crate::model::*;
use crate::store::*;
use std::collections::HashMap;

/// A reader of a message: its mark and who it is (`None`: a since-removed user).
#[derive(Debug, Clone)]
pub struct ReaderView {
    pub mark: ReadMark,
    pub party: Option<Party>,
}

/// A page of a message's readers, by ascending user id; `next_after` is the cursor (the
/// last user id) of the next page when there is one.
#[derive(Debug, Clone)]
pub struct ReadersPage {
    pub message: Message,
    pub items: Vec<ReaderView>,
    pub next_after: Option<i64>,
}

impl Core {
    /// Moves `actor`'s read mark in `chat` up to `position` (1 to the chat's last
    /// position); a mark never moves back. `actor` must be a member.
    pub async fn mark_read(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actor: Actor,
        position: i64,
    ) -> Result<ReadMark> {
        let chat = self.chat(tenant, chat).await?;
        if self.store.get_member(chat.id, actor).await?.is_none() {
            return Err(Error::Forbidden(Denied::not_member(chat.kind)));
        }
        if position < 1 || position > chat.last_position {
            return Err(Error::invalid(
                "position",
                format!(
                    "must be between 1 and the chat's last position ({})",
                    chat.last_position
                ),
            ));
        }
        Ok(self
            .store
            .mark_read(chat.id, actor, position, self.now_ms())
            .await?)
    }

    /// A page of the users who have read `message`: only its sender may ask (a member
    /// that is not the sender is refused with `Denied::NotSender`).
    pub async fn read_users(
        &self,
        tenant: TenantId,
        access: Access,
        message: MessageId,
        after: i64,
        limit: u32,
    ) -> Result<ReadersPage> {
        let (chat, m) = self.reach(tenant, access, message).await?;
        if access.actor().is_some_and(|a| a != m.sender) {
            return Err(Error::Forbidden(Denied::NotSender));
        }
        // Off the timeline (a merge-forward copy), a message has no position to reach.
        let Some(position) = m.position() else {
            return Ok(ReadersPage {
                message: m,
                items: Vec::new(),
                next_after: None,
            });
        };
        let members = self.store.list_members(chat.id).await?;
        let marks: HashMap<Actor, ReadMark> = self
            .store
            .read_marks(chat.id)
            .await?
            .into_iter()
            .map(|k| (k.actor, k))
            .collect();
        let mut readers: Vec<ReadMark> = members
            .iter()
            .filter(|x| matches!(x.actor, Actor::User(_)) && x.actor != m.sender)
            .filter_map(|x| marks.get(&x.actor))
            .filter(|k| k.position >= position && k.actor.raw_id() > after)
            .cloned()
            .collect();
        readers.sort_by_key(|k| k.actor.raw_id());
        let limit = limit.clamp(1, MAX_PAGE) as usize;
        let more = readers.len() > limit;
        readers.truncate(limit);
        let next_after = more
            .then(|| readers.last().map(|k| k.actor.raw_id()))
            .flatten();
        let mut items = Vec::with_capacity(readers.len());
        for mark in readers {
            let party = self.party_opt(tenant, mark.actor).await?;
            items.push(ReaderView { mark, party });
        }
        Ok(ReadersPage {
            message: m,
            items,
            next_after,
        })
    }
}
