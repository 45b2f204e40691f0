//! The event outbox ([`EventStore`]): changes recorded by the other areas' writes (through
//! [`record_change`], or in the group inserts of `append.rs`), subscriptions, and the
//! deliveries with their attempt log.
//!
//! Several nodes share the database. Routing is one node's at a time: one row
//! (`router_lease`, migration 8) names the owner and its expiry, and a route deletes its
//! changes only while its node still holds it. Leasing deliveries serialises itself across
//! nodes with a transaction-scoped advisory lock, and checks the per-(app, dialect, chat)
//! order rule against every other node's leases.
//!
//! Heads of lines (migration 3): in each line, (app, dialect, chat), exactly the lowest-id
//! `pending` delivery has `head`. The writes keep it so in their transactions, and a lease
//! looks only at lease candidates (heads and retrying deliveries, `deliveries_ready`),
//! checking each against the order rules with one probe per rule (`deliveries_leased`,
//! `deliveries_head`, `deliveries_order`): its cost follows the candidates it reads, not
//! the backlog behind the heads, and it needs no cap on rows examined (so none can
//! starve it). Routing and an attempt's record meet on the line's head row: routing
//! share-locks the line's first pending delivery before deciding that a new one is not
//! the head, and an attempt's record locks that row before (in a later statement, so with
//! a later snapshot) handing the head on; whichever goes second sees the other's work.

use crate::errors::pg_err;
use crate::sql::{execute, query, query_opt};
use crate::{rows, PostgresStore};
use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use switchboard_core::error::Entity;
use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

/// Advisory lock key that serialises leasing deliveries across nodes (ASCII "SWBDDLVR").
const LEASE_LOCK: i64 = 0x5357_4244_444C_5652;

/// Ends `owner`'s routing lease, if it still holds it.
async fn release_routing<C: GenericClient + Sync>(c: &C, owner: &str) -> StoreResult<()> {
    execute(
        c,
        "UPDATE router_lease SET until = 0 WHERE id = 1 AND owner = $1",
        &[&owner],
    )
    .await?;
    Ok(())
}

/// Hands the head of the line of delivery `$1` to the line's next pending delivery when
/// the line has no head (after `$1` left `pending`). Every pending delivery of a line is
/// above its head, so the next one is the first pending above `$1`.
const PROMOTE: &str = "UPDATE deliveries SET head = true WHERE id = (
        SELECT n.id FROM deliveries x JOIN deliveries n
          ON n.app_id = x.app_id AND n.dialect = x.dialect AND n.chat_id = x.chat_id
        WHERE x.id = $1 AND n.status IN ('pending', 'retrying') AND n.status = 'pending' AND n.id > x.id
        ORDER BY n.id LIMIT 1)
    AND NOT EXISTS (SELECT 1 FROM deliveries x JOIN deliveries h
          ON h.app_id = x.app_id AND h.dialect = x.dialect AND h.chat_id = x.chat_id
        WHERE x.id = $1 AND h.head)";

/// Records a change inside the caller's transaction (which has locked the chat's row, so
/// that `seq` follows the order of the chat's writes).
pub(crate) async fn record_change<C: GenericClient + Sync>(
    c: &C,
    tenant: TenantId,
    chat: ChatId,
    at: Millis,
    body: &ChangeBody,
) -> StoreResult<()> {
    execute(
        c,
        "INSERT INTO changes(tenant_id, chat_id, at, kind, body) VALUES ($1, $2, $3, $4, $5)",
        &[&tenant.0, &chat.0, &at, &body.kind(), &body.encode()],
    )
    .await?;
    Ok(())
}

fn i64_of(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// A delivery's columns, each prefixed with `$p` (a table alias and dot, or nothing), as
/// [`rows::delivery`] reads them.
macro_rules! delivery_cols {
    ($p:literal) => {
        concat!(
            $p,
            "id, ",
            $p,
            "event_id, ",
            $p,
            "tenant_id, ",
            $p,
            "app_id, ",
            $p,
            "dialect, ",
            $p,
            "mode, ",
            $p,
            "event_type, ",
            $p,
            "chat_id, ",
            $p,
            "message_id, ",
            $p,
            "seq, ",
            $p,
            "body, ",
            $p,
            "status, ",
            $p,
            "attempts, ",
            $p,
            "next_attempt_at, ",
            $p,
            "created_at"
        )
    };
}

/// Subscription columns, as [`rows::subscription`] reads them.
const SUB_COLS: &str = "tenant_id, app_id, dialect, mode, url, encrypt_key, verification_token, event_types, created_at, updated_at";

/// A delivery and its attempts (oldest first, as arrays), as [`rows::delivery_record`]
/// reads them, from `deliveries d`.
macro_rules! record_select {
    () => {
        concat!(
            "SELECT ",
            delivery_cols!("d."),
            ", a.ats, a.statuses, a.latencies, a.errors, a.wires FROM deliveries d
             LEFT JOIN LATERAL (
                 SELECT array_agg(x.at ORDER BY x.n) AS ats, array_agg(x.status ORDER BY x.n) AS statuses,
                        array_agg(x.latency_ms ORDER BY x.n) AS latencies, array_agg(x.error ORDER BY x.n) AS errors,
                        array_agg(x.wire ORDER BY x.n) AS wires
                 FROM delivery_attempts x WHERE x.delivery = d.id
             ) a ON true "
        )
    };
}

#[async_trait]
impl EventStore for PostgresStore {
    async fn put_subscription(&self, sub: Subscription) -> StoreResult<Subscription> {
        let c = self.client().await?;
        let row = query_opt(
            &c,
            &format!(
                "INSERT INTO subscriptions(tenant_id, app_id, dialect, mode, url, encrypt_key, verification_token, event_types, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                 ON CONFLICT (app_id, dialect) DO UPDATE SET
                     tenant_id = EXCLUDED.tenant_id, mode = EXCLUDED.mode, url = EXCLUDED.url,
                     encrypt_key = EXCLUDED.encrypt_key, verification_token = EXCLUDED.verification_token,
                     event_types = EXCLUDED.event_types, updated_at = EXCLUDED.updated_at
                 RETURNING {SUB_COLS}"
            ),
            &[
                &sub.tenant.0,
                &sub.app.0,
                &sub.dialect,
                &sub.mode.as_str(),
                &sub.url,
                &sub.encrypt_key,
                &sub.verification_token,
                &sub.event_types,
                &sub.created_at,
                &sub.updated_at,
            ],
        )
        .await?
        .ok_or_else(|| StoreError::Internal("upsert returned no row".into()))?;
        rows::subscription(&row)
    }

    async fn list_subscriptions(
        &self,
        tenant: TenantId,
        app: Option<AppId>,
    ) -> StoreResult<Vec<Subscription>> {
        let c = self.client().await?;
        query(
            &c,
            &format!(
                "SELECT {SUB_COLS} FROM subscriptions
                 WHERE tenant_id = $1 AND ($2::bigint IS NULL OR app_id = $2)
                 ORDER BY app_id, dialect"
            ),
            &[&tenant.0, &app.map(|a| a.0)],
        )
        .await?
        .iter()
        .map(rows::subscription)
        .collect()
    }

    async fn delete_subscription(&self, app: AppId, dialect: &str) -> StoreResult<u64> {
        // One statement, so one transaction: the subscription, its open deliveries and
        // their attempts (a redelivered one may have some).
        const SQL: &str = "WITH s AS (
                DELETE FROM subscriptions WHERE app_id = $1 AND dialect = $2 RETURNING app_id),
            d AS (
                DELETE FROM deliveries WHERE app_id = $1 AND dialect = $2
                  AND status IN ('pending', 'retrying') AND EXISTS (SELECT 1 FROM s)
                RETURNING id),
            a AS (DELETE FROM delivery_attempts WHERE delivery IN (SELECT id FROM d))
            SELECT (SELECT count(*) FROM s), (SELECT count(*) FROM d)";
        // The dropped lines have no pending delivery left, so no head; but one routed
        // meanwhile (committed after the statement's snapshot, behind a head it deleted)
        // is left without one: a later statement, with a later snapshot, makes it head.
        const HEADS: &str = "UPDATE deliveries d SET head = true
            WHERE d.id IN (SELECT min(p.id) FROM deliveries p
                           WHERE p.app_id = $1 AND p.dialect = $2
                             AND p.status IN ('pending', 'retrying') AND p.status = 'pending'
                           GROUP BY p.chat_id)
              AND NOT EXISTS (SELECT 1 FROM deliveries h
                              WHERE h.app_id = $1 AND h.dialect = $2 AND h.chat_id = d.chat_id AND h.head)";
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        let row = query_opt(&tx, SQL, &[&app.0, &dialect])
            .await?
            .ok_or_else(|| StoreError::Internal("delete returned no row".into()))?;
        let (subs, dropped): (i64, i64) = (rows::get(&row, 0)?, rows::get(&row, 1)?);
        if subs == 0 {
            return Err(StoreError::NotFound(Entity::Subscription));
        }
        execute(&tx, HEADS, &[&app.0, &dialect]).await?;
        tx.commit().await.map_err(pg_err)?;
        Ok(u64::try_from(dropped).unwrap_or(0))
    }

    async fn lease_changes(
        &self,
        owner: &str,
        limit: usize,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Vec<Change>> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        // One row holds the routing lease (`router_lease`): taken when free, expired or
        // already `owner`'s, and only while there is something to route (a lease then
        // covers exactly the changes leased and not yet routed, as when each change
        // carried its own); the first change is found through the key's index, since the
        // table's heap is mostly rows already routed and not yet vacuumed. Its update
        // serialises the nodes' attempts; the read that
        // follows is a new statement, so its snapshot holds every earlier router's routing.
        let c = self.client().await?;
        let held = query_opt(
            &c,
            "UPDATE router_lease SET owner = $1, until = $2
             WHERE id = 1 AND (owner = $1 OR until <= $3)
               AND (SELECT seq FROM changes ORDER BY seq LIMIT 1) IS NOT NULL
             RETURNING 1",
            &[&owner, &until, &now],
        )
        .await?;
        if held.is_none() {
            return Ok(Vec::new());
        }
        let found = query(
            &c,
            "SELECT seq, tenant_id, chat_id, at, body FROM changes ORDER BY seq LIMIT $1",
            &[&i64_of(limit)],
        )
        .await?;
        if found.is_empty() {
            release_routing(&c, owner).await?;
        }
        found.iter().map(rows::change).collect()
    }

    async fn route_changes(
        &self,
        owner: &str,
        seqs: &[i64],
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<()> {
        if seqs.is_empty() {
            return Ok(());
        }
        // One statement: the changes go while `owner` holds the routing lease (share-locked,
        // so a node taking it over waits for this commit, and after a takeover this deletes
        // nothing), and the deliveries of exactly those come in, ids taken in the order given. A new delivery is its line's head
        // iff it is the line's first in this call and the line has no pending delivery:
        // `busy` share-locks each line's first pending one (from its head up), so that an
        // attempt's record that would hand that head on waits for this commit (and then
        // sees these), or, if it went first, that row no longer qualifies when locked and
        // the next pending one (the new head) is taken instead.
        const SQL: &str = "WITH me AS (
                SELECT 1 FROM router_lease WHERE id = 1 AND owner = $2 FOR SHARE),
            gone AS (
                DELETE FROM changes WHERE seq = ANY($1) AND EXISTS (SELECT 1 FROM me) RETURNING seq),
            n AS (
                SELECT u.*, row_number() OVER (PARTITION BY u.app_id, u.dialect, u.chat_id ORDER BY u.ord) AS k
                FROM UNNEST($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
                            $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bytea[], $13::bigint[])
                     WITH ORDINALITY AS u(event_id, tenant_id, app_id, dialect, mode, event_type, chat_id,
                                          message_id, seq, body, created_at, ord)
                WHERE u.seq IN (SELECT seq FROM gone)),
            busy AS (
                SELECT l.app_id, l.dialect, l.chat_id
                FROM (SELECT DISTINCT app_id, dialect, chat_id FROM n) l
                CROSS JOIN LATERAL (
                    SELECT p.id FROM deliveries p
                    WHERE p.app_id = l.app_id AND p.dialect = l.dialect AND p.chat_id = l.chat_id
                      AND p.status IN ('pending', 'retrying') AND p.status = 'pending'
                      AND p.id >= (SELECT h.id FROM deliveries h
                                   WHERE h.app_id = l.app_id AND h.dialect = l.dialect
                                     AND h.chat_id = l.chat_id AND h.head)
                    ORDER BY p.id LIMIT 1 FOR SHARE) p)
            INSERT INTO deliveries(event_id, tenant_id, app_id, dialect, mode, event_type, chat_id,
                                   message_id, seq, body, status, attempts, next_attempt_at, created_at, head)
            SELECT x.event_id, x.tenant_id, x.app_id, x.dialect, x.mode, x.event_type, x.chat_id,
                   x.message_id, x.seq, x.body, 'pending', 0, x.created_at, x.created_at,
                   x.k = 1 AND NOT EXISTS (SELECT 1 FROM busy b
                       WHERE b.app_id = x.app_id AND b.dialect = x.dialect AND b.chat_id = x.chat_id)
            FROM (SELECT * FROM n ORDER BY n.ord) x";
        let d = &deliveries;
        let event_ids: Vec<&str> = d.iter().map(|x| x.event_id.as_str()).collect();
        let tenants: Vec<i64> = d.iter().map(|x| x.tenant.0).collect();
        let apps: Vec<i64> = d.iter().map(|x| x.app.0).collect();
        let dialects: Vec<&str> = d.iter().map(|x| x.dialect.as_str()).collect();
        let modes: Vec<&str> = d.iter().map(|x| x.mode.as_str()).collect();
        let types: Vec<&str> = d.iter().map(|x| x.event_type.as_str()).collect();
        let chats: Vec<i64> = d.iter().map(|x| x.chat.0).collect();
        let messages: Vec<Option<i64>> = d.iter().map(|x| x.message.map(|m| m.0)).collect();
        let dseqs: Vec<i64> = d.iter().map(|x| x.seq).collect();
        let bodies: Vec<Vec<u8>> = d.iter().map(|x| x.body.encode()).collect();
        let created: Vec<Millis> = d.iter().map(|x| x.created_at).collect();
        let c = self.client().await?;
        execute(
            &c,
            SQL,
            &[
                &seqs, &owner, &event_ids, &tenants, &apps, &dialects, &modes, &types, &chats,
                &messages, &dseqs, &bodies, &created,
            ],
        )
        .await?;
        // What was leased is routed: the lease ends with it (another node may take the next
        // changes at once).
        release_routing(&c, owner).await
    }

    async fn lease_deliveries(&self, lease: DeliveryLease<'_>) -> StoreResult<Vec<Delivery>> {
        if lease.limit == 0 || lease.only_apps.is_some_and(|a| a.is_empty()) {
            return Ok(Vec::new());
        }
        // Candidates only (heads and retrying ones), oldest due first; each one due,
        // unleased, of the asked apps, and the one of its line to go now: no other
        // delivery of the line is leased (a leased one is always a candidate, and in
        // `deliveries_leased`), no pending one is below it (the head is the lowest), and
        // no due retrying one of its mode is below it (so that each line offers at most
        // one, its lowest, and `LIMIT` counts lines). Rows a concurrent record or
        // redeliver has locked are skipped rather than waited for; the scan stops at
        // `limit`.
        const SQL: &str = concat!(
            "WITH pick AS (
                SELECT d.id FROM deliveries d
                WHERE (d.head OR d.status = 'retrying') AND d.mode = $1 AND d.next_attempt_at <= $2
                  AND (d.lease_owner IS NULL OR d.lease_until <= $2)
                  AND ($3::bigint[] IS NULL OR d.app_id = ANY($3))
                  AND NOT (d.app_id = ANY($4::bigint[]))
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries o
                      WHERE o.app_id = d.app_id AND o.dialect = d.dialect AND o.chat_id = d.chat_id
                        AND o.lease_owner IS NOT NULL AND o.lease_until > $2 AND o.id <> d.id)
                  AND (d.head OR NOT EXISTS (
                      SELECT 1 FROM deliveries h
                      WHERE h.app_id = d.app_id AND h.dialect = d.dialect AND h.chat_id = d.chat_id
                        AND h.head AND h.id < d.id))
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries r
                      WHERE r.app_id = d.app_id AND r.dialect = d.dialect AND r.chat_id = d.chat_id
                        AND r.status IN ('pending', 'retrying') AND r.id < d.id AND r.mode = d.mode
                        AND r.next_attempt_at <= $2)
                ORDER BY d.next_attempt_at, d.id LIMIT $5
                FOR UPDATE OF d SKIP LOCKED)
            UPDATE deliveries d SET lease_owner = $6, lease_until = $7 FROM pick
            WHERE d.id = pick.id
            RETURNING ",
            delivery_cols!("d.")
        );
        let only: Option<Vec<i64>> = lease.only_apps.map(|a| a.iter().map(|x| x.0).collect());
        let skip: Vec<i64> = lease.skip_apps.iter().map(|x| x.0).collect();
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&LEASE_LOCK]).await?;
        let found = query(
            &tx,
            SQL,
            &[
                &lease.mode.as_str(),
                &lease.now,
                &only,
                &skip,
                &i64_of(lease.limit),
                &lease.owner,
                &lease.until,
            ],
        )
        .await?;
        tx.commit().await.map_err(pg_err)?;
        let mut out = found
            .iter()
            .map(|r| rows::delivery(r, 0))
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|d| (d.next_attempt_at, d.id));
        Ok(out)
    }

    async fn record_attempt(
        &self,
        delivery: i64,
        owner: &str,
        attempt: Attempt,
        next: Next,
    ) -> StoreResult<bool> {
        // One statement: the delivery moves on only while `owner` holds it, and the
        // attempt is logged under the number it takes. Then, in the same transaction but
        // a later statement (which sees a delivery routed behind it while the first one
        // waited for routing's lock on it), its line's next pending one becomes the head.
        const SQL: &str = "WITH u AS (
                UPDATE deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4,
                    lease_owner = NULL, lease_until = NULL, head = false
                WHERE id = $1 AND lease_owner = $2
                RETURNING id, attempts)
            INSERT INTO delivery_attempts(delivery, n, at, status, latency_ms, error, wire)
            SELECT u.id, u.attempts, $5, $6, $7, $8, $9 FROM u";
        let (status, next_at) = match next {
            Next::Delivered => (DeliveryStatus::Delivered, None),
            Next::RetryAt(t) => (DeliveryStatus::Retrying, Some(t)),
            Next::Failed => (DeliveryStatus::Failed, None),
        };
        let error = attempt.error.map(|e| e.as_str());
        let status = status.as_str();
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 9] = [
            &delivery,
            &owner,
            &status,
            &next_at,
            &attempt.at,
            &attempt.status,
            &attempt.latency_ms,
            &error,
            &attempt.wire,
        ];
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        // One after the other (`PROMOTE` must see the first's work); `PROMOTE` only when
        // the first moved the delivery on.
        let n = execute(&tx, SQL, &params).await?;
        if n == 1 {
            execute(&tx, PROMOTE, &[&delivery]).await?;
        }
        tx.commit().await.map_err(pg_err)?;
        Ok(n == 1)
    }

    async fn list_deliveries(&self, q: DeliveryQuery) -> StoreResult<Vec<DeliveryRecord>> {
        const SQL: &str = concat!(
            record_select!(),
            "WHERE d.tenant_id = $1 AND d.app_id = $2 AND ($3::text IS NULL OR d.status = $3)
               AND ($4::text IS NULL OR d.event_type = $4) AND ($5::bigint IS NULL OR d.id < $5)
             ORDER BY d.id DESC LIMIT $6"
        );
        let c = self.client().await?;
        query(
            &c,
            SQL,
            &[
                &q.tenant.0,
                &q.app.0,
                &q.status.map(|s| s.as_str()),
                &q.event_type,
                &q.before,
                &i64::from(q.limit),
            ],
        )
        .await?
        .iter()
        .map(rows::delivery_record)
        .collect()
    }

    async fn get_delivery(
        &self,
        tenant: TenantId,
        event_id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        const SQL: &str = concat!(
            record_select!(),
            "WHERE d.event_id = $2 AND d.tenant_id = $1"
        );
        let c = self.client().await?;
        query_opt(&c, SQL, &[&tenant.0, &event_id])
            .await?
            .map(|r| rows::delivery_record(&r))
            .transpose()
    }

    async fn redeliver(
        &self,
        tenant: TenantId,
        event_id: &str,
        now: Millis,
    ) -> StoreResult<Delivery> {
        const SQL: &str = concat!(
            "UPDATE deliveries SET
                 status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                 head = CASE WHEN attempts = 0 THEN head ELSE false END,
                 next_attempt_at = $3, lease_owner = NULL, lease_until = NULL
             WHERE event_id = $2 AND tenant_id = $1
             RETURNING ",
            delivery_cols!("")
        );
        let c = self.client().await?;
        query_opt(&c, SQL, &[&tenant.0, &event_id, &now])
            .await?
            .map(|r| rows::delivery(&r, 0))
            .transpose()?
            .ok_or(StoreError::NotFound(Entity::Delivery))
    }

    async fn prune_deliveries(&self, before: Millis) -> StoreResult<u64> {
        const SQL: &str = "WITH d AS (
                DELETE FROM deliveries WHERE status IN ('delivered', 'failed') AND created_at < $1
                RETURNING id),
            a AS (DELETE FROM delivery_attempts WHERE delivery IN (SELECT id FROM d))
            SELECT count(*) FROM d";
        let c = self.client().await?;
        let row = query_opt(&c, SQL, &[&before])
            .await?
            .ok_or_else(|| StoreError::Internal("delete returned no row".into()))?;
        Ok(u64::try_from(rows::get::<i64>(&row, 0)?).unwrap_or(0))
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        let c = self.client().await?;
        let open = query(
            &c,
            "SELECT dialect, count(*), min(created_at) FROM deliveries
             WHERE status IN ('pending', 'retrying') GROUP BY dialect ORDER BY dialect",
            &[],
        )
        .await?
        .iter()
        .map(|r| {
            let n: i64 = rows::get(r, 1)?;
            Ok((
                rows::get(r, 0)?,
                u64::try_from(n).unwrap_or(0),
                rows::get(r, 2)?,
            ))
        })
        .collect::<StoreResult<Vec<_>>>()?;
        let row = query_opt(&c, "SELECT count(*) FROM changes", &[])
            .await?
            .ok_or_else(|| StoreError::Internal("count returned no row".into()))?;
        let unrouted: i64 = rows::get(&row, 0)?;
        Ok(OutboxStats {
            open,
            unrouted: u64::try_from(unrouted).unwrap_or(0),
        })
    }
}
