//! Chats and members ([`ChatStore`]): writes go through the writer and record their
//! membership changes in the same write (`changes.rs`), point reads are served from the
//! caches or read inline.

use crate::changes::{chat_tenant, record};
use crate::{is_unique_violation, rows, sql_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use switchboard_core::error::Entity;
use switchboard_core::events::ChangeBody;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

fn p2p_key(tenant: TenantId, a: Actor, b: Actor) -> String {
    let mut parts = [
        format!("{}:{}", a.kind(), a.raw_id()),
        format!("{}:{}", b.kind(), b.raw_id()),
    ];
    parts.sort();
    format!("{}:{}|{}", tenant.0, parts[0], parts[1])
}

#[async_trait]
impl ChatStore for SqliteStore {
    async fn create_chat(&self, new: NewChat) -> StoreResult<Chat> {
        self.write(move |c| {
            let key = match (new.kind, new.members.as_slice()) {
                (ChatKind::P2p, [(a, _), (b, _)]) => Some(p2p_key(new.tenant, *a, *b)),
                _ => None,
            };
            let r = c.execute(
                "INSERT INTO chats(tenant_id, kind, name, owner_kind, owner_id, created_at, p2p_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![new.tenant.0, new.kind.as_str(), new.name, new.owner.kind(), new.owner.raw_id(), new.created_at, key],
            );
            match r {
                Ok(_) => {}
                Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("p2p")),
                Err(e) => return Err(sql_err(e)),
            }
            let id = c.last_insert_rowid();
            if id > MAX_CHAT_ID {
                return Err(StoreError::Internal("chat id space exhausted".into()));
            }
            // Everyone but the owner joined (the owner created it).
            let mut joined = Vec::new();
            {
                let mut s = c
                    .prepare_cached("INSERT OR IGNORE INTO chat_members(chat_id, member_kind, member_id, role, joined_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                    .map_err(sql_err)?;
                for (a, role) in &new.members {
                    let n = s.execute(params![id, a.kind(), a.raw_id(), role.as_str(), new.created_at]).map_err(sql_err)?;
                    if n == 1 && *a != new.owner {
                        joined.push(*a);
                    }
                }
            }
            if !joined.is_empty() {
                let body = ChangeBody::MembersAdded { by: Some(new.owner), members: joined };
                record(c, new.tenant, ChatId(id), new.created_at, &body)?;
            }
            Ok(Chat {
                id: ChatId(id),
                tenant: new.tenant,
                kind: new.kind,
                name: new.name,
                description: String::new(),
                owner: new.owner,
                created_at: new.created_at,
                dissolved_at: None,
                last_position: 0,
            })
        })
        .await
    }

    async fn get_chat(&self, id: ChatId) -> StoreResult<Option<Chat>> {
        if let Some(c) = self.inner.chats.get(&id) {
            return Ok(Some(c));
        }
        let generation = self.inner.chats.generation();
        let chat = self.read_now(|c| rows::chat_where(c, "id = ?1", &id.0))?;
        if let Some(c) = &chat {
            self.inner.chats.fill(id, c.clone(), generation);
        }
        Ok(chat)
    }

    async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> StoreResult<Option<Chat>> {
        let key = p2p_key(tenant, a, b);
        if let Some(id) = self.inner.p2p_chats.get(&key) {
            return self.get_chat(id).await;
        }
        // A unique-index lookup: read inline, like the other point reads. Absence is not
        // cached (the chat may be created next).
        let generation = self.inner.p2p_chats.generation();
        let chat = self.read_now(|c| rows::chat_where(c, "p2p_key = ?1", &key))?;
        if let Some(c) = &chat {
            self.inner.p2p_chats.fill(key, c.id, generation);
        }
        Ok(chat)
    }

    async fn list_chats(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<Chat>> {
        self.read(move |c| rows::tenant_page(c, "chats", rows::CHAT_COLS, tenant, page, rows::chat))
            .await
    }

    async fn dissolve_chat(&self, id: ChatId, at: Millis, by: Option<Actor>) -> StoreResult<Chat> {
        let r = self
            .write(move |c| {
                // Dissolving a dissolved chat changes nothing, and records nothing.
                let dissolved = c
                    .execute(
                        "UPDATE chats SET dissolved_at = ?2 WHERE id = ?1 AND dissolved_at IS NULL",
                        params![id.0, at],
                    )
                    .map_err(sql_err)?;
                let chat = rows::chat_where(c, "id = ?1", &id.0)?
                    .ok_or(StoreError::NotFound(Entity::Chat))?;
                if dissolved == 1 {
                    record(c, chat.tenant, id, at, &ChangeBody::ChatDissolved { by })?;
                }
                Ok(chat)
            })
            .await;
        self.inner.chats.invalidate(&id);
        r
    }

    async fn update_chat(&self, id: ChatId, patch: ChatPatch) -> StoreResult<Chat> {
        let old_owner = self.get_chat(id).await?.map(|c| c.owner);
        let r = self
            .write(move |c| {
                let chat = rows::chat_where(c, "id = ?1", &id.0)?
                    .ok_or(StoreError::NotFound(Entity::Chat))?;
                if let Some(o) = patch.owner {
                    // Both roles change in the same write as the owner column, so that a
                    // chat never has two owners or none.
                    let n = c
                        .execute(
                            "UPDATE chat_members SET role = 'owner' WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3",
                            params![id.0, o.kind(), o.raw_id()],
                        )
                        .map_err(sql_err)?;
                    if n == 0 {
                        return Err(StoreError::NotFound(Entity::Member));
                    }
                    if o != chat.owner {
                        c.execute(
                            "UPDATE chat_members SET role = 'member' WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3",
                            params![id.0, chat.owner.kind(), chat.owner.raw_id()],
                        )
                        .map_err(sql_err)?;
                    }
                }
                c.execute(
                    "UPDATE chats SET name = COALESCE(?2, name), description = COALESCE(?3, description),
                        owner_kind = COALESCE(?4, owner_kind), owner_id = COALESCE(?5, owner_id) WHERE id = ?1",
                    params![
                        id.0,
                        patch.name,
                        patch.description,
                        patch.owner.map(|o| o.kind()),
                        patch.owner.map(|o| o.raw_id())
                    ],
                )
                .map_err(sql_err)?;
                rows::chat_where(c, "id = ?1", &id.0)?.ok_or(StoreError::NotFound(Entity::Chat))
            })
            .await;
        self.inner.chats.invalidate(&id);
        if let Some(o) = patch.owner {
            self.inner.members.invalidate(&(id, o));
        }
        if let Some(o) = old_owner {
            self.inner.members.invalidate(&(id, o));
        }
        r
    }

    async fn list_member_chats(
        &self,
        tenant: TenantId,
        actor: Actor,
        page: Page,
    ) -> StoreResult<Vec<Chat>> {
        self.read(move |c| {
            let cols = rows::CHAT_COLS
                .split(", ")
                .map(|col| format!("c.{col}"))
                .collect::<Vec<_>>()
                .join(", ");
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {cols} FROM chat_members m JOIN chats c ON c.id = m.chat_id
                     WHERE m.member_kind = ?1 AND m.member_id = ?2 AND m.chat_id > ?3
                       AND c.tenant_id = ?4 AND c.dissolved_at IS NULL
                     ORDER BY m.chat_id LIMIT ?5"
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(
                    params![
                        actor.kind(),
                        actor.raw_id(),
                        page.after,
                        tenant.0,
                        page.limit
                    ],
                    rows::chat,
                )
                .map_err(sql_err)?;
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(sql_err)?
                .into_iter()
                .collect()
        })
        .await
    }

    async fn add_members(
        &self,
        chat: ChatId,
        members: Vec<(Actor, Role)>,
        at: Millis,
        by: Option<Actor>,
    ) -> StoreResult<Vec<Member>> {
        self.write(move |c| {
            let mut s = c
                .prepare_cached("INSERT OR IGNORE INTO chat_members(chat_id, member_kind, member_id, role, joined_at) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sql_err)?;
            let mut added = Vec::new();
            for (a, role) in members {
                if s.execute(params![chat.0, a.kind(), a.raw_id(), role.as_str(), at]).map_err(sql_err)? == 1 {
                    added.push(Member { chat, actor: a, role, joined_at: at });
                }
            }
            if !added.is_empty() {
                let members = added.iter().map(|m| m.actor).collect();
                record(c, chat_tenant(c, chat)?, chat, at, &ChangeBody::MembersAdded { by, members })?;
            }
            Ok(added)
        })
        .await
    }

    async fn remove_members(
        &self,
        chat: ChatId,
        members: Vec<Actor>,
        at: Millis,
        by: Option<Actor>,
    ) -> StoreResult<Vec<Actor>> {
        let keys: Vec<(ChatId, Actor)> = members.iter().map(|a| (chat, *a)).collect();
        let r = self.write(move |c| {
            let mut s = c
                .prepare_cached("DELETE FROM chat_members WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3")
                .map_err(sql_err)?;
            let mut removed = Vec::new();
            for a in members {
                if s.execute(params![chat.0, a.kind(), a.raw_id()]).map_err(sql_err)? == 1 {
                    removed.push(a);
                }
            }
            if !removed.is_empty() {
                let body = ChangeBody::MembersRemoved { by, members: removed.clone() };
                record(c, chat_tenant(c, chat)?, chat, at, &body)?;
            }
            Ok(removed)
        })
        .await;
        for k in &keys {
            self.inner.members.invalidate(k);
        }
        r
    }

    async fn set_member_role(&self, chat: ChatId, actor: Actor, role: Role) -> StoreResult<Member> {
        let r = self
            .write(move |c| {
                c.execute(
                    "UPDATE chat_members SET role = ?4 WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3",
                    params![chat.0, actor.kind(), actor.raw_id(), role.as_str()],
                )
                .map_err(sql_err)?;
                c.prepare_cached("SELECT chat_id, member_kind, member_id, role, joined_at FROM chat_members WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3")
                    .and_then(|mut s| s.query_row(params![chat.0, actor.kind(), actor.raw_id()], rows::member).optional())
                    .map_err(sql_err)?
                    .transpose()?
                    .ok_or(StoreError::NotFound(Entity::Member))
            })
            .await;
        self.inner.members.invalidate(&(chat, actor));
        r
    }

    async fn get_member(&self, chat: ChatId, actor: Actor) -> StoreResult<Option<Member>> {
        // Only members are cached: a non-member that joins later is simply not cached yet.
        if let Some(m) = self.inner.members.get(&(chat, actor)) {
            return Ok(Some(m));
        }
        let generation = self.inner.members.generation();
        let m = self.read_now(|c| {
            c.prepare_cached("SELECT chat_id, member_kind, member_id, role, joined_at FROM chat_members WHERE chat_id = ?1 AND member_kind = ?2 AND member_id = ?3")
                .and_then(|mut s| s.query_row(params![chat.0, actor.kind(), actor.raw_id()], rows::member).optional())
                .map_err(sql_err)?
                .transpose()
        })?;
        if let Some(m) = &m {
            self.inner
                .members
                .fill((chat, actor), m.clone(), generation);
        }
        Ok(m)
    }

    async fn list_members(&self, chat: ChatId) -> StoreResult<Vec<Member>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached("SELECT chat_id, member_kind, member_id, role, joined_at FROM chat_members WHERE chat_id = ?1 ORDER BY joined_at, member_kind, member_id")
                .map_err(sql_err)?;
            let rows = s.query_map([chat.0], rows::member).map_err(sql_err)?;
            rows.collect::<Result<Vec<_>, _>>().map_err(sql_err)?.into_iter().collect()
        })
        .await
    }
}
