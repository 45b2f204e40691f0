//! Names in requests -> domain parties and chats.
//!
//! An account id names a user of the caller's tenant by its `account_id`; where no user has
//! that account id, an app of the same tenant may be named by its `app_id` (so a bot's own
//! p2p chats are addressable, e.g. `alice|1|cli_…`). Another tenant's users, apps and teams
//! are never found.

use crate::error::{code, YunxinError};
use crate::ids::{self, conversation_type, conversation_type_name, ConversationId};
use switchboard_core::error::Error;
use switchboard_core::ids::{ChatId, TenantId};
use switchboard_core::model::{Actor, Chat, ChatKind};
use switchboard_core::service::Party;
use switchboard_core::store::UserKey;
use switchboard_core::Core;

/// The user (or app) an account id names in `tenant`.
pub async fn actor(core: &Core, tenant: TenantId, account: &str) -> Result<Actor, YunxinError> {
    if account.is_empty() {
        return Err(YunxinError::param("an account id must not be empty"));
    }
    match core.find_user(tenant, UserKey::AccountId(account)).await {
        Ok(u) => return Ok(Actor::User(u.id)),
        Err(Error::NotFound(_)) => {}
        Err(e) => return Err(YunxinError::from(e)),
    }
    match core.app_by_public_id(account).await {
        Ok(a) if a.tenant == tenant => Ok(Actor::App(a.id)),
        Ok(_) | Err(Error::NotFound(_)) => Err(YunxinError::account_not_found(account)),
        Err(e) => Err(YunxinError::from(e)),
    }
}

/// How a party appears in Yunxin fields: a user's `account_id`, an app's `app_id`.
pub fn party_account(p: &Party) -> String {
    match p {
        Party::User(u) => u.account_id.clone(),
        Party::App(a) => a.app_id.clone(),
    }
}

/// The account id of `actor`; a since-removed party shows its canonical id.
pub async fn account_of(
    core: &Core,
    tenant: TenantId,
    actor: Actor,
) -> Result<String, YunxinError> {
    match core.party(tenant, actor).await {
        Ok(p) => Ok(party_account(&p)),
        Err(Error::NotFound(_)) => Ok(actor.raw_id().to_string()),
        Err(e) => Err(YunxinError::from(e)),
    }
}

/// A parsed and resolved `owner|type|other` conversation id.
#[derive(Debug, Clone)]
pub struct Conversation {
    pub id: ConversationId,
    /// Who acts: reads are made from the owner's view, sends and recalls as the owner.
    pub owner: Actor,
    pub target: Target,
}

#[derive(Debug, Clone)]
pub enum Target {
    /// `chat` is `None` until the two have exchanged a message.
    P2p { peer: Actor, chat: Option<Chat> },
    /// `id` is `None` when the team id is a Long that names no possible team (beyond the
    /// chat id range); `chat` is `None` when no team of the caller's tenant has this id.
    Team {
        id: Option<ChatId>,
        chat: Option<Chat>,
    },
}

/// Parses and resolves a conversation id; a malformed id, an unknown type or a type that
/// does not match the team's kind is a 414; an unknown account a 404.
pub async fn conversation(
    core: &Core,
    tenant: TenantId,
    raw: &str,
) -> Result<Conversation, YunxinError> {
    let id = ConversationId::parse(raw)
        .map_err(|e| YunxinError::param(format!("invalid conversation_id {raw:?}: {e}")))?;
    let owner = actor(core, tenant, &id.owner).await?;
    let target = match id.kind {
        ChatKind::P2p => {
            let peer = actor(core, tenant, &id.other).await?;
            if peer == owner {
                return Err(YunxinError::param(
                    "invalid conversation_id: a p2p conversation needs two different accounts",
                ));
            }
            if matches!((owner, peer), (Actor::App(_), Actor::App(_))) {
                return Err(YunxinError::param(
                    "invalid conversation_id: a p2p conversation needs at least one user account",
                ));
            }
            let chat = core.find_p2p(tenant, owner, peer).await?;
            Target::P2p { peer, chat }
        }
        ChatKind::Group | ChatKind::SuperGroup => {
            let team = ids::parse_team_id(&id.other)
                .map_err(|e| YunxinError::param(format!("invalid conversation_id {raw:?}: {e}")))?;
            // Any Long is a well-formed team id; one that names no possible team is simply
            // a team that does not exist.
            let chat = match team {
                None => None,
                Some(team) => match core.chat(tenant, team).await {
                    Ok(c) => Some(c),
                    Err(Error::NotFound(_)) => None,
                    Err(e) => return Err(YunxinError::from(e)),
                },
            };
            if let Some(c) = &chat {
                if c.kind != id.kind {
                    return Err(YunxinError::param(format!(
                        "conversation type {} ({}) does not match {} {}, which is {} {} (conversation type {})",
                        conversation_type(id.kind),
                        conversation_type_name(id.kind),
                        if c.kind == ChatKind::P2p { "chat" } else { "team" },
                        c.id,
                        if c.kind == ChatKind::Group { "an" } else { "a" },
                        conversation_type_name(c.kind),
                        conversation_type(c.kind)
                    )));
                }
            }
            Target::Team { id: team, chat }
        }
    };
    Ok(Conversation { id, owner, target })
}

impl Conversation {
    pub fn kind(&self) -> ChatKind {
        self.id.kind
    }

    /// The accounts this id named, with the parties they resolved to (for
    /// [`crate::render::message_with`]): the owner, and a p2p conversation's peer.
    pub fn known(&self) -> Vec<(Actor, &str)> {
        let mut k = vec![(self.owner, self.id.owner.as_str())];
        if let Target::P2p { peer, .. } = &self.target {
            k.push((*peer, self.id.other.as_str()));
        }
        k
    }

    /// The chat as the query endpoint sees it. Without the check flags the query only asks
    /// "does the owner's conversation hold this message", so every miss is 107404; the
    /// flags turn a missing or dissolved team into 108404 and a non-member owner into 804.
    pub async fn readable_chat(
        &self,
        core: &Core,
        check_team: bool,
        check_member: bool,
    ) -> Result<Chat, YunxinError> {
        match &self.target {
            Target::P2p { chat: Some(c), .. } => Ok(c.clone()),
            Target::P2p { chat: None, .. } => Err(YunxinError::message_not_found()),
            Target::Team { chat: None, .. } if check_team => Err(YunxinError::team_not_found()),
            Target::Team { chat: None, .. } => Err(YunxinError::message_not_found()),
            Target::Team { chat: Some(c), .. } => {
                if check_team && c.dissolved_at.is_some() {
                    return Err(YunxinError::new(
                        code::TEAM_NOT_FOUND,
                        "team not exist: it has been dissolved",
                    ));
                }
                if core.is_member(c.id, self.owner).await?.is_none() {
                    return Err(if check_member {
                        YunxinError::new(
                            code::NOT_IN_TEAM,
                            format!(
                                "account {:?} is not a member of team {}",
                                self.id.owner, c.id
                            ),
                        )
                    } else {
                        YunxinError::message_not_found()
                    });
                }
                Ok(c.clone())
            }
        }
    }

    /// The chat a recall acts on: it must exist; with `check_member`, the owner must be a
    /// member (804) before anything else is looked at.
    pub async fn member_chat(&self, core: &Core, check_member: bool) -> Result<Chat, YunxinError> {
        let chat = self.existing_chat()?;
        if check_member && core.is_member(chat.id, self.owner).await?.is_none() {
            return Err(YunxinError::new(
                code::NOT_IN_TEAM,
                format!(
                    "account {:?} is not a member of team {}",
                    self.id.owner, chat.id
                ),
            ));
        }
        Ok(chat)
    }

    /// The chat a recall acts on: it must exist.
    pub fn existing_chat(&self) -> Result<Chat, YunxinError> {
        match &self.target {
            Target::P2p { chat: Some(c), .. } | Target::Team { chat: Some(c), .. } => Ok(c.clone()),
            Target::P2p { chat: None, .. } => Err(YunxinError::message_not_found()),
            Target::Team { chat: None, .. } => Err(YunxinError::team_not_found()),
        }
    }
}
