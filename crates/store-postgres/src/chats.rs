//! Chats and members ([`ChatStore`]), with one-statement reads of a chat and a membership
//! together.

use crate::errors::{pg_err, unique_violation};
use crate::events::record_change;
use crate::sql::{query, query_opt};
use crate::{rows, PostgresStore};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_core::error::Entity;
use switchboard_core::events::ChangeBody;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;
use tokio_postgres::error::SqlState;

fn p2p_key(tenant: TenantId, a: Actor, b: Actor) -> String {
    let mut parts = [
        format!("{}:{}", a.kind(), a.raw_id()),
        format!("{}:{}", b.kind(), b.raw_id()),
    ];
    parts.sort();
    format!("{}:{}|{}", tenant.0, parts[0], parts[1])
}

/// Inserts members in one statement (first occurrence of a duplicated actor wins, as with
/// one insert per member); returns those newly added, in input order.
async fn insert_members<C: GenericClient + Sync>(
    c: &C,
    chat: ChatId,
    members: &[(Actor, Role)],
    at: Millis,
) -> StoreResult<Vec<Member>> {
    if members.is_empty() {
        return Ok(Vec::new());
    }
    let kinds: Vec<&str> = members.iter().map(|(a, _)| a.kind()).collect();
    let ids: Vec<i64> = members.iter().map(|(a, _)| a.raw_id()).collect();
    let roles: Vec<&str> = members.iter().map(|(_, r)| r.as_str()).collect();
    let inserted = query(
        c,
        "INSERT INTO chat_members(chat_id, member_kind, member_id, role, joined_at)
         SELECT $1, m.kind, m.id, m.role, $5
         FROM UNNEST($2::text[], $3::bigint[], $4::text[]) WITH ORDINALITY AS m(kind, id, role, ord)
         ORDER BY m.ord
         ON CONFLICT DO NOTHING
         RETURNING member_kind, member_id, role",
        &[&chat.0, &kinds, &ids, &roles, &at],
    )
    .await?;
    let mut fresh = Vec::with_capacity(inserted.len());
    for r in &inserted {
        let (kind, id, role): (&str, i64, &str) =
            (rows::get(r, 0)?, rows::get(r, 1)?, rows::get(r, 2)?);
        let (Some(actor), Some(role)) = (Actor::from_parts(kind, id), Role::parse(role)) else {
            return Err(StoreError::Internal("corrupt row: chat_members".into()));
        };
        fresh.push((actor, role));
    }
    let mut added = Vec::with_capacity(fresh.len());
    for (a, _) in members {
        if let Some(i) = fresh.iter().position(|(x, _)| x == a) {
            let (actor, role) = fresh.swap_remove(i);
            added.push(Member {
                chat,
                actor,
                role,
                joined_at: at,
            });
        }
    }
    Ok(added)
}

/// Locks `chat`'s row as an append does (so that the change a membership write records
/// takes its `seq` in the order of the chat's writes); returns its tenant, `None` when
/// absent.
async fn lock_chat<C: GenericClient + Sync>(c: &C, chat: ChatId) -> StoreResult<Option<TenantId>> {
    query_opt(
        c,
        "SELECT tenant_id FROM chats WHERE id = $1 FOR NO KEY UPDATE",
        &[&chat.0],
    )
    .await?
    .map(|r| rows::get(&r, 0).map(TenantId))
    .transpose()
}

#[async_trait]
impl ChatStore for PostgresStore {
    async fn create_chat(&self, new: NewChat) -> StoreResult<Chat> {
        let key = match (new.kind, new.members.as_slice()) {
            (ChatKind::P2p, [(a, _), (b, _)]) => Some(p2p_key(new.tenant, *a, *b)),
            _ => None,
        };
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let s = tx
            .prepare_cached(
                "INSERT INTO chats(tenant_id, kind, name, owner_kind, owner_id, created_at, p2p_key)
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .await
            .map_err(pg_err)?;
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 7] = [
            &new.tenant.0,
            &new.kind.as_str(),
            &new.name,
            &new.owner.kind(),
            &new.owner.raw_id(),
            &new.created_at,
            &key,
        ];
        let r = match tx.query_one(&s, &params).await {
            Ok(r) => r,
            Err(e) if unique_violation(&e) == Some("chats_p2p_key") => {
                return Err(StoreError::Duplicate("p2p"))
            }
            Err(e) if e.code() == Some(&SqlState::SEQUENCE_GENERATOR_LIMIT_EXCEEDED) => {
                return Err(StoreError::Internal("chat id space exhausted".into()))
            }
            Err(e) => return Err(pg_err(e)),
        };
        let id = ChatId(rows::get(&r, 0)?);
        if !(1..=MAX_CHAT_ID).contains(&id.0) {
            return Err(StoreError::Internal("chat id space exhausted".into()));
        }
        let added = insert_members(&tx, id, &new.members, new.created_at).await?;
        let joined: Vec<Actor> = added
            .iter()
            .map(|m| m.actor)
            .filter(|a| *a != new.owner)
            .collect();
        if !joined.is_empty() {
            let body = ChangeBody::MembersAdded {
                by: Some(new.owner),
                members: joined,
            };
            record_change(&tx, new.tenant, id, new.created_at, &body).await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(Chat {
            id,
            tenant: new.tenant,
            kind: new.kind,
            name: new.name,
            description: String::new(),
            owner: new.owner,
            created_at: new.created_at,
            dissolved_at: None,
            last_position: 0,
        })
    }

    async fn get_chat(&self, id: ChatId) -> StoreResult<Option<Chat>> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {} FROM chats WHERE id = $1", rows::CHAT_COLS),
            &[&id.0],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()
    }

    async fn find_p2p(&self, tenant: TenantId, a: Actor, b: Actor) -> StoreResult<Option<Chat>> {
        let key = p2p_key(tenant, a, b);
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {} FROM chats WHERE p2p_key = $1", rows::CHAT_COLS),
            &[&key],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()
    }

    async fn list_chats(&self, tenant: TenantId, page: Page) -> StoreResult<Vec<Chat>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {} FROM chats WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3",
                rows::CHAT_COLS
            ),
            &[&tenant.0, &page.after, &i64::from(page.limit)],
        )
        .await?
        .iter()
        .map(rows::chat)
        .collect()
    }

    async fn update_chat(&self, id: ChatId, patch: ChatPatch) -> StoreResult<Chat> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // The row lock taken here orders this update after any other change of the owner.
        let chat = query_opt(
            &tx,
            &format!(
                "SELECT {} FROM chats WHERE id = $1 FOR UPDATE",
                rows::CHAT_COLS
            ),
            &[&id.0],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()?
        .ok_or(StoreError::NotFound(Entity::Chat))?;
        if let Some(o) = patch.owner {
            let n = tx
                .execute(
                    "UPDATE chat_members SET role = 'owner' WHERE chat_id = $1 AND member_kind = $2 AND member_id = $3",
                    &[&id.0, &o.kind(), &o.raw_id()],
                )
                .await
                .map_err(pg_err)?;
            if n == 0 {
                return Err(StoreError::NotFound(Entity::Member));
            }
            if o != chat.owner {
                tx.execute(
                    "UPDATE chat_members SET role = 'member' WHERE chat_id = $1 AND member_kind = $2 AND member_id = $3",
                    &[&id.0, &chat.owner.kind(), &chat.owner.raw_id()],
                )
                .await
                .map_err(pg_err)?;
            }
        }
        let owner_kind = patch.owner.map(|o| o.kind());
        let owner_id = patch.owner.map(|o| o.raw_id());
        let r = query_opt(
            &tx,
            &format!(
                "UPDATE chats SET name = COALESCE($2, name), description = COALESCE($3, description),
                    owner_kind = COALESCE($4, owner_kind), owner_id = COALESCE($5, owner_id)
                 WHERE id = $1 RETURNING {}",
                rows::CHAT_COLS
            ),
            &[&id.0, &patch.name, &patch.description, &owner_kind, &owner_id],
        )
        .await?
        .ok_or(StoreError::NotFound(Entity::Chat))?;
        let chat = rows::chat(&r)?;
        tx.commit().await.map_err(pg_err)?;
        Ok(chat)
    }

    async fn list_member_chats(
        &self,
        tenant: TenantId,
        actor: Actor,
        page: Page,
    ) -> StoreResult<Vec<Chat>> {
        let cols = rows::CHAT_COLS
            .split(", ")
            .map(|col| format!("c.{col}"))
            .collect::<Vec<_>>()
            .join(", ");
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {cols} FROM chat_members m JOIN chats c ON c.id = m.chat_id
                 WHERE m.member_kind = $1 AND m.member_id = $2 AND m.chat_id > $3
                   AND c.tenant_id = $4 AND c.dissolved_at IS NULL
                 ORDER BY m.chat_id LIMIT $5"
            ),
            &[
                &actor.kind(),
                &actor.raw_id(),
                &page.after,
                &tenant.0,
                &i64::from(page.limit),
            ],
        )
        .await?
        .iter()
        .map(rows::chat)
        .collect()
    }

    async fn dissolve_chat(&self, id: ChatId, at: Millis, by: Option<Actor>) -> StoreResult<Chat> {
        // One statement: the chat is dissolved and its change recorded, or (when it was
        // dissolved already, or is absent) nothing is written and the chat is read as is.
        const SQL: &str = "WITH u AS (
                UPDATE chats SET dissolved_at = $2 WHERE id = $1 AND dissolved_at IS NULL
                RETURNING id, tenant_id, kind, name, owner_kind, owner_id, created_at, dissolved_at, last_position, description),
            e AS (
                INSERT INTO changes(tenant_id, chat_id, at, kind, body)
                SELECT u.tenant_id, u.id, $2, 'chat_dissolved', $3 FROM u)
            SELECT id, tenant_id, kind, name, owner_kind, owner_id, created_at, dissolved_at, last_position, description FROM u";
        let body = ChangeBody::ChatDissolved { by }.encode();
        let c = self.client().await?;
        if let Some(r) = query_opt(&c, SQL, &[&id.0, &at, &body]).await? {
            return rows::chat(&r);
        }
        query_opt(
            &c,
            &format!("SELECT {} FROM chats WHERE id = $1", rows::CHAT_COLS),
            &[&id.0],
        )
        .await?
        .map(|r| rows::chat(&r))
        .transpose()?
        .ok_or(StoreError::NotFound(Entity::Chat))
    }

    async fn add_members(
        &self,
        chat: ChatId,
        members: Vec<(Actor, Role)>,
        at: Millis,
        by: Option<Actor>,
    ) -> StoreResult<Vec<Member>> {
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let tenant = lock_chat(&tx, chat)
            .await?
            .ok_or(StoreError::NotFound(Entity::Chat))?;
        let added = insert_members(&tx, chat, &members, at).await?;
        if !added.is_empty() {
            let body = ChangeBody::MembersAdded {
                by,
                members: added.iter().map(|m| m.actor).collect(),
            };
            record_change(&tx, tenant, chat, at, &body).await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(added)
    }

    async fn remove_members(
        &self,
        chat: ChatId,
        members: Vec<Actor>,
        at: Millis,
        by: Option<Actor>,
    ) -> StoreResult<Vec<Actor>> {
        if members.is_empty() {
            return Ok(Vec::new());
        }
        let kinds: Vec<&str> = members.iter().map(|a| a.kind()).collect();
        let ids: Vec<i64> = members.iter().map(|a| a.raw_id()).collect();
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let Some(tenant) = lock_chat(&tx, chat).await? else {
            return Ok(Vec::new());
        };
        let gone = query(
            &tx,
            "DELETE FROM chat_members WHERE chat_id = $1
               AND (member_kind, member_id) IN (SELECT * FROM UNNEST($2::text[], $3::bigint[]))
             RETURNING member_kind, member_id",
            &[&chat.0, &kinds, &ids],
        )
        .await?;
        let mut gone = gone
            .iter()
            .map(|r| {
                Ok((
                    rows::get::<&str>(r, 0)?.to_string(),
                    rows::get::<i64>(r, 1)?,
                ))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let mut removed = Vec::with_capacity(gone.len());
        for a in members {
            if let Some(i) = gone
                .iter()
                .position(|(k, id)| k == a.kind() && *id == a.raw_id())
            {
                gone.swap_remove(i);
                removed.push(a);
            }
        }
        if !removed.is_empty() {
            let body = ChangeBody::MembersRemoved {
                by,
                members: removed.clone(),
            };
            record_change(&tx, tenant, chat, at, &body).await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(removed)
    }

    async fn set_member_role(&self, chat: ChatId, actor: Actor, role: Role) -> StoreResult<Member> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("UPDATE chat_members SET role = $4 WHERE chat_id = $1 AND member_kind = $2 AND member_id = $3 RETURNING {}", rows::MEMBER_COLS),
            &[&chat.0, &actor.kind(), &actor.raw_id(), &role.as_str()],
        )
        .await?
        .map(|r| rows::member(&r))
        .transpose()?
        .ok_or(StoreError::NotFound(Entity::Member))
    }

    async fn get_member(&self, chat: ChatId, actor: Actor) -> StoreResult<Option<Member>> {
        let c = self.client().await?;
        query_opt(
            &c,
            &format!("SELECT {} FROM chat_members WHERE chat_id = $1 AND member_kind = $2 AND member_id = $3", rows::MEMBER_COLS),
            &[&chat.0, &actor.kind(), &actor.raw_id()],
        )
        .await?
        .map(|r| rows::member(&r))
        .transpose()
    }

    async fn list_members(&self, chat: ChatId) -> StoreResult<Vec<Member>> {
        let c = self.client().await?;
        query(
            &c,
            &format!("SELECT {} FROM chat_members WHERE chat_id = $1 ORDER BY joined_at, member_kind, member_id", rows::MEMBER_COLS),
            &[&chat.0],
        )
        .await?
        .iter()
        .map(rows::member)
        .collect()
    }

    async fn chats_with_members(
        &self,
        ids: &[ChatId],
    ) -> StoreResult<Vec<Option<(Chat, Vec<Member>)>>> {
        // Two statements for all of them; both read by primary key (`= ANY`), the
        // members in `list_members`' order within each chat.
        let raw: Vec<i64> = ids.iter().map(|c| c.0).collect();
        let c = self.client().await?;
        let chats = query(
            &c,
            &format!("SELECT {} FROM chats WHERE id = ANY($1)", rows::CHAT_COLS),
            &[&raw],
        )
        .await?;
        let members = query(
            &c,
            &format!(
                "SELECT {} FROM chat_members WHERE chat_id = ANY($1)
                 ORDER BY chat_id, joined_at, member_kind, member_id",
                rows::MEMBER_COLS
            ),
            &[&raw],
        )
        .await?;
        let mut found: std::collections::HashMap<ChatId, (Chat, Vec<Member>)> = chats
            .iter()
            .map(|r| rows::chat(r).map(|chat| (chat.id, (chat, Vec::new()))))
            .collect::<StoreResult<_>>()?;
        for r in &members {
            let m = rows::member(r)?;
            if let Some((_, list)) = found.get_mut(&m.chat) {
                list.push(m);
            }
        }
        Ok(ids.iter().map(|id| found.get(id).cloned()).collect())
    }

    async fn chat_and_member(
        &self,
        chat: ChatId,
        actor: Actor,
    ) -> StoreResult<(Option<Chat>, Option<Member>)> {
        // The membership outer-joined onto the chat's row, read together with the lookups
        // of concurrent requests (`lookups.rs`).
        match self.inner.lookups.lookup(chat, Some(actor), None).await? {
            Some(row) => rows::chat_and_member(&row),
            None => Ok((None, None)),
        }
    }

    async fn chats_and_members(
        &self,
        pairs: &[(ChatId, Actor)],
    ) -> StoreResult<Vec<(Option<Chat>, Option<Member>)>> {
        // One round trip for all pairs, in the order given (`ord`).
        const SQL: &str = concat!(
            "SELECT ",
            chat_and_member_cols!(),
            " FROM UNNEST($1::bigint[], $2::text[], $3::bigint[]) WITH ORDINALITY AS p(chat_id, kind, member_id, ord)
             LEFT JOIN chats c ON c.id = p.chat_id
             LEFT JOIN chat_members m ON m.chat_id = c.id AND m.member_kind = p.kind AND m.member_id = p.member_id
             ORDER BY p.ord"
        );
        let chats: Vec<i64> = pairs.iter().map(|(c, _)| c.0).collect();
        let kinds: Vec<&str> = pairs.iter().map(|(_, a)| a.kind()).collect();
        let ids: Vec<i64> = pairs.iter().map(|(_, a)| a.raw_id()).collect();
        let c = self.client().await?;
        let found = query(&c, SQL, &[&chats, &kinds, &ids]).await?;
        if found.len() != pairs.len() {
            return Err(StoreError::Internal(format!(
                "{} pairs asked, {} answered",
                pairs.len(),
                found.len()
            )));
        }
        found.iter().map(rows::chat_and_member).collect()
    }
}
