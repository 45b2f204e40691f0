//! Chats and their members.

use super::validate::*;
use super::*;
use crate::error::{Conflict, Denied, Entity, Error, Result};
use crate::ids::{ChatId, TenantId};
use crate::model::*;
use crate::store::*;

#[derive(Debug, Clone)]
pub struct CreateChat {
    pub kind: ChatKind,
    pub name: Option<String>,
    pub owner: Actor,
    pub members: Vec<Actor>,
}

impl Core {
    // ----- parties and chats ---------------------------------------------------------

    /// Checks that `actor` exists in `tenant`.
    pub async fn party(&self, tenant: TenantId, actor: Actor) -> Result<Party> {
        match actor {
            Actor::User(u) => Ok(Party::User(self.user(tenant, u).await?)),
            Actor::App(a) => Ok(Party::App(AppCard::from(&self.app(tenant, a).await?))),
        }
    }

    pub async fn create_chat(&self, tenant: TenantId, cmd: CreateChat) -> Result<Chat> {
        self.tenant(tenant).await?;
        self.party(tenant, cmd.owner).await?;
        let mut members: Vec<(Actor, Role)> = vec![(cmd.owner, Role::Owner)];
        for m in cmd.members {
            if !members.iter().any(|(a, _)| *a == m) {
                self.party(tenant, m).await?;
                members.push((m, Role::Member));
            }
        }
        let name = match &cmd.name {
            Some(n) => valid_name("name", n, 256)?,
            None if cmd.kind == ChatKind::P2p => String::new(),
            None => return Err(Error::invalid("name", "a group needs a name")),
        };
        if cmd.kind == ChatKind::P2p {
            if members.len() != 2 {
                return Err(Error::invalid(
                    "members",
                    "a p2p chat has exactly two distinct participants",
                ));
            }
            if matches!((members[0].0, members[1].0), (Actor::App(_), Actor::App(_))) {
                return Err(Error::invalid(
                    "members",
                    "a p2p chat needs at least one user",
                ));
            }
            // A p2p chat has no owner role: both parties are equal members.
            for m in &mut members {
                m.1 = Role::Member;
            }
        }
        if members.len() > 10_000 {
            return Err(Error::invalid("members", "at most 10000 members"));
        }
        let new = NewChat {
            tenant,
            kind: cmd.kind,
            name,
            owner: cmd.owner,
            members,
            created_at: self.now_ms(),
        };
        let chat = self.store.create_chat(new).await?;
        self.changed();
        Ok(chat)
    }

    /// The p2p chat between `a` and `b`, created on first use.
    pub async fn ensure_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> Result<Chat> {
        if let Some(c) = self.store.find_p2p(tenant, a, b).await? {
            return Ok(c);
        }
        let cmd = CreateChat {
            kind: ChatKind::P2p,
            name: None,
            owner: a,
            members: vec![b],
        };
        match self.create_chat(tenant, cmd).await {
            // Lost a race with a concurrent creator: theirs is the one.
            Err(Error::Conflict(Conflict::Duplicate(_))) => self
                .store
                .find_p2p(tenant, a, b)
                .await?
                .ok_or(Error::NotFound(Entity::Chat)),
            other => other,
        }
    }

    pub async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> Result<Option<Chat>> {
        Ok(self.store.find_p2p(tenant, a, b).await?)
    }

    /// A chat of `tenant`; another tenant's chat is not found.
    pub async fn chat(&self, tenant: TenantId, id: ChatId) -> Result<Chat> {
        match self.store.get_chat(id).await? {
            Some(c) if c.tenant == tenant => Ok(c),
            _ => Err(Error::NotFound(Entity::Chat)),
        }
    }

    /// A chat `access` may see: the chat and, for a member's access, the membership read
    /// together (one round trip on a remote store), refused as [`Core::chat`] and
    /// `check_access` refuse, in that order.
    pub async fn visible_chat(&self, tenant: TenantId, access: Access, id: ChatId) -> Result<Chat> {
        let Access::Member(actor) = access else {
            return self.chat(tenant, id).await;
        };
        match self.store.chat_and_member(id, actor).await? {
            (Some(c), _) if c.tenant != tenant => Err(Error::NotFound(Entity::Chat)),
            (Some(c), Some(_)) => Ok(c),
            (Some(c), None) => Err(Error::Forbidden(Denied::not_member(c.kind))),
            (None, _) => Err(Error::NotFound(Entity::Chat)),
        }
    }

    pub async fn list_chats(&self, tenant: TenantId, page: Page) -> Result<Vec<Chat>> {
        self.tenant(tenant).await?;
        Ok(self.store.list_chats(tenant, clamp(page)).await?)
    }

    /// Dissolves a chat; `by` is who did it (`None`: the tenant's operator).
    pub async fn dissolve_chat(
        &self,
        tenant: TenantId,
        id: ChatId,
        by: Option<Actor>,
    ) -> Result<Chat> {
        let chat = self.chat(tenant, id).await?;
        if chat.dissolved_at.is_some() {
            return Ok(chat);
        }
        let chat = self.store.dissolve_chat(id, self.now_ms(), by).await?;
        self.changed();
        Ok(chat)
    }

    /// The chats `actor` is a member of that are not dissolved, by ascending id.
    pub async fn chats_of(&self, tenant: TenantId, actor: Actor, page: Page) -> Result<Vec<Chat>> {
        self.party(tenant, actor).await?;
        Ok(self
            .store
            .list_member_chats(tenant, actor, clamp(page))
            .await?)
    }

    /// Changes a group's name, description or owner as `by`. A member must manage the
    /// group to rename it or change its description, and must own it to hand ownership
    /// on; the new owner must be a member already, and the old owner stays as a plain
    /// member. An empty patch changes nothing and answers the chat.
    pub async fn update_chat(
        &self,
        tenant: TenantId,
        id: ChatId,
        by: Access,
        mut patch: ChatPatch,
    ) -> Result<Chat> {
        let chat = self.chat(tenant, id).await?;
        if chat.kind == ChatKind::P2p {
            return Err(Error::invalid(
                "chat",
                "a p2p chat has no name, description or owner",
            ));
        }
        if chat.dissolved_at.is_some() {
            return Err(Error::Conflict(Conflict::ChatDissolved));
        }
        if let Access::Member(a) = by {
            let m = self.check_manager(&chat, a).await?;
            if patch.owner.is_some_and(|o| o != chat.owner) && m.role != Role::Owner {
                return Err(Error::Forbidden(Denied::NotChatAdmin));
            }
        }
        if let Some(n) = &patch.name {
            patch.name = Some(valid_name("name", n, 256)?);
        }
        if let Some(d) = &patch.description {
            if d.chars().count() > 1024 {
                return Err(Error::invalid("description", "at most 1024 characters"));
            }
        }
        if patch.owner == Some(chat.owner) {
            patch.owner = None;
        }
        if let Some(o) = patch.owner {
            if self.store.get_member(id, o).await?.is_none() {
                return Err(Error::NotFound(Entity::Member));
            }
        }
        if patch == ChatPatch::default() {
            return Ok(chat);
        }
        Ok(self.store.update_chat(id, patch).await?)
    }

    pub(super) async fn check_access(&self, chat: &Chat, access: Access) -> Result<Option<Member>> {
        match access {
            Access::Admin => Ok(None),
            Access::Member(actor) => match self.store.get_member(chat.id, actor).await? {
                Some(m) => Ok(Some(m)),
                None => Err(Error::Forbidden(Denied::not_member(chat.kind))),
            },
        }
    }

    pub async fn is_member(&self, chat: ChatId, actor: Actor) -> Result<Option<Member>> {
        Ok(self.store.get_member(chat, actor).await?)
    }

    pub async fn members(&self, tenant: TenantId, chat: ChatId) -> Result<Vec<Member>> {
        self.chat(tenant, chat).await?;
        Ok(self.store.list_members(chat).await?)
    }

    /// Adds members (users or apps of the same tenant) as the tenant's operator, or for an
    /// API that lets any member of a group add others (having checked membership itself).
    /// Returns the newly added ones.
    pub async fn add_members(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actors: Vec<Actor>,
    ) -> Result<Vec<Member>> {
        self.add_members_by(tenant, chat, Access::Admin, actors)
            .await
    }

    /// Adds members as `by`: as [`Core::add_members`] for `Access::Admin`; a member must
    /// manage the group ([`Core::check_manager`]).
    pub async fn add_members_by(
        &self,
        tenant: TenantId,
        chat: ChatId,
        by: Access,
        actors: Vec<Actor>,
    ) -> Result<Vec<Member>> {
        let c = self.chat(tenant, chat).await?;
        if c.dissolved_at.is_some() {
            return Err(Error::Conflict(Conflict::ChatDissolved));
        }
        if c.kind == ChatKind::P2p {
            return Err(Error::invalid("chat", "p2p chat membership cannot change"));
        }
        if let Access::Member(a) = by {
            self.check_manager(&c, a).await?;
        }
        if actors.is_empty() {
            return Err(Error::invalid("members", "must not be empty"));
        }
        for a in &actors {
            self.party(tenant, *a).await?;
        }
        let with_roles = actors.into_iter().map(|a| (a, Role::Member)).collect();
        let added = self
            .store
            .add_members(chat, with_roles, self.now_ms(), by.actor())
            .await?;
        self.changed();
        Ok(added)
    }

    /// Makes a member an admin or a plain member. Ownership is not transferred this way,
    /// and p2p chats have no roles.
    pub async fn set_member_role(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actor: Actor,
        role: Role,
    ) -> Result<Member> {
        let c = self.chat(tenant, chat).await?;
        if c.kind == ChatKind::P2p {
            return Err(Error::invalid("chat", "p2p chats have no roles"));
        }
        if role == Role::Owner {
            return Err(Error::invalid("role", "must be admin or member"));
        }
        if c.owner == actor {
            return Err(Error::invalid("member", "the owner's role cannot change"));
        }
        Ok(self.store.set_member_role(chat, actor, role).await?)
    }

    /// Removes members from a group as the tenant's operator, or for an API that lets any
    /// member of a group remove others. The owner stays: a request naming the owner is
    /// refused whole ([`Conflict::OwnerStays`], see [`Core::check_removable`]).
    pub async fn remove_members(
        &self,
        tenant: TenantId,
        chat: ChatId,
        actors: Vec<Actor>,
    ) -> Result<Vec<Actor>> {
        self.remove_members_by(tenant, chat, Access::Admin, actors)
            .await
    }

    /// Removes members as `by`: as [`Core::remove_members`] for `Access::Admin`; a member
    /// must manage the group ([`Core::check_manager`]).
    pub async fn remove_members_by(
        &self,
        tenant: TenantId,
        chat: ChatId,
        by: Access,
        actors: Vec<Actor>,
    ) -> Result<Vec<Actor>> {
        let c = self.chat(tenant, chat).await?;
        if c.kind == ChatKind::P2p {
            return Err(Error::invalid("chat", "p2p chat membership cannot change"));
        }
        if let Access::Member(a) = by {
            self.check_manager(&c, a).await?;
        }
        if actors.is_empty() {
            return Err(Error::invalid("members", "must not be empty"));
        }
        for a in &actors {
            Core::check_removable(&c, *a)?;
        }
        let removed = self
            .store
            .remove_members(chat, actors, self.now_ms(), by.actor())
            .await?;
        self.changed();
        Ok(removed)
    }

    /// Who may change a group's membership as a member: its owner or an admin. Refused with
    /// `Forbidden(NotMember)` for a non-member and `Forbidden(NotChatAdmin)` for a plain
    /// member. For an API that checks the operator before anything else it does.
    pub async fn check_manager(&self, chat: &Chat, by: Actor) -> Result<Member> {
        match self.store.get_member(chat.id, by).await? {
            None => Err(Error::Forbidden(Denied::NotMember)),
            Some(m) if matches!(m.role, Role::Owner | Role::Admin) => Ok(m),
            Some(_) => Err(Error::Forbidden(Denied::NotChatAdmin)),
        }
    }

    /// The rule [`Core::remove_members`] applies to each party it is asked to remove: the
    /// chat's owner cannot be removed. For callers that answer per party.
    pub fn check_removable(chat: &Chat, actor: Actor) -> Result<()> {
        if actor == chat.owner {
            return Err(Error::Conflict(Conflict::OwnerStays));
        }
        Ok(())
    }
}
