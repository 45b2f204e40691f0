//! The event outbox ([`EventStore`]): changes recorded by the other areas' writes (through
//! [`record_change`], or in the send statements of `append.rs`), subscriptions, and the
//! deliveries with their attempt log.
//!
//! Several nodes share the database, so the two leasing calls serialise themselves across
//! nodes with transaction-scoped advisory locks (one key each): routing is one owner's at
//! a time, and leasing deliveries checks the per-(app, dialect, chat) order rule against
//! every other node's leases.

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

/// Advisory lock key that makes routing one node's at a time (ASCII "SWBDROUT").
const ROUTE_LOCK: i64 = 0x5357_4244_524F_5554;
/// Advisory lock key that serialises leasing deliveries across nodes (ASCII "SWBDDLVR").
const LEASE_LOCK: i64 = 0x5357_4244_444C_5652;

/// Due deliveries examined per delivery leased: the order rule keeps at most one per
/// (app, dialect, chat), so a batch may look past several of the same chat.
const SCAN_PER_LEASE: usize = 4;

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
            ", a.ats, a.statuses, a.latencies, a.errors FROM deliveries d
             LEFT JOIN LATERAL (
                 SELECT array_agg(x.at ORDER BY x.n) AS ats, array_agg(x.status ORDER BY x.n) AS statuses,
                        array_agg(x.latency_ms ORDER BY x.n) AS latencies, array_agg(x.error ORDER BY x.n) AS errors
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
        let c = self.client().await?;
        let row = query_opt(&c, SQL, &[&app.0, &dialect])
            .await?
            .ok_or_else(|| StoreError::Internal("delete returned no row".into()))?;
        let (subs, dropped): (i64, i64) = (rows::get(&row, 0)?, rows::get(&row, 1)?);
        if subs == 0 {
            return Err(StoreError::NotFound(Entity::Subscription));
        }
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
        // Under the lock, the check for another owner's live lease and the lease itself
        // see every earlier router's committed leases (a new snapshot per statement).
        const SQL: &str = "WITH pick AS (
                SELECT seq FROM changes
                WHERE NOT EXISTS (
                    SELECT 1 FROM changes o
                    WHERE o.lease_owner IS NOT NULL AND o.lease_until > $3 AND o.lease_owner <> $1)
                ORDER BY seq LIMIT $4 FOR UPDATE)
            UPDATE changes ch SET lease_owner = $1, lease_until = $2 FROM pick
            WHERE ch.seq = pick.seq
            RETURNING ch.seq, ch.tenant_id, ch.chat_id, ch.at, ch.body";
        let mut c = self.client().await?;
        let tx = c.transaction().await.map_err(pg_err)?;
        execute(&tx, "SELECT pg_advisory_xact_lock($1)", &[&ROUTE_LOCK]).await?;
        let found = query(&tx, SQL, &[&owner, &until, &now, &i64_of(limit)]).await?;
        tx.commit().await.map_err(pg_err)?;
        let mut out = found
            .iter()
            .map(rows::change)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|ch| ch.seq);
        Ok(out)
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
        // One statement: the changes still `owner`'s go, and the deliveries of exactly
        // those come in, ids taken in the order given.
        const SQL: &str = "WITH gone AS (
                DELETE FROM changes WHERE seq = ANY($1) AND lease_owner = $2 RETURNING seq)
            INSERT INTO deliveries(event_id, tenant_id, app_id, dialect, mode, event_type, chat_id,
                                   message_id, seq, body, status, attempts, next_attempt_at, created_at)
            SELECT n.event_id, n.tenant_id, n.app_id, n.dialect, n.mode, n.event_type, n.chat_id,
                   n.message_id, n.seq, n.body, 'pending', 0, n.created_at, n.created_at
            FROM (SELECT u.* FROM UNNEST($3::text[], $4::bigint[], $5::bigint[], $6::text[], $7::text[],
                         $8::text[], $9::bigint[], $10::bigint[], $11::bigint[], $12::bytea[], $13::bigint[])
                      WITH ORDINALITY AS u(event_id, tenant_id, app_id, dialect, mode, event_type, chat_id,
                                           message_id, seq, body, created_at, ord)
                  WHERE u.seq IN (SELECT seq FROM gone)
                  ORDER BY u.ord) n";
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
        Ok(())
    }

    async fn lease_deliveries(&self, lease: DeliveryLease<'_>) -> StoreResult<Vec<Delivery>> {
        if lease.limit == 0 || lease.only_apps.is_some_and(|a| a.is_empty()) {
            return Ok(Vec::new());
        }
        // `due`: open, due, not leased, of the asked apps, and first in its (app, dialect,
        // chat) by the order rule (none of them leased, no lower pending); oldest due
        // first. `one`: the lowest id of each (app, dialect, chat) among those, so a batch
        // never holds two of one chat. Rows a concurrent record or redeliver has locked
        // are skipped rather than waited for.
        const SQL: &str = concat!(
            "WITH due AS (
                SELECT d.id, d.app_id, d.dialect, d.chat_id, d.next_attempt_at FROM deliveries d
                WHERE d.status IN ('pending', 'retrying') AND d.mode = $1 AND d.next_attempt_at <= $2
                  AND (d.lease_owner IS NULL OR d.lease_until <= $2)
                  AND ($3::bigint[] IS NULL OR d.app_id = ANY($3))
                  AND NOT (d.app_id = ANY($4::bigint[]))
                  AND NOT EXISTS (
                      SELECT 1 FROM deliveries o
                      WHERE o.app_id = d.app_id AND o.dialect = d.dialect AND o.chat_id = d.chat_id
                        AND o.status IN ('pending', 'retrying') AND o.id <> d.id
                        AND ((o.lease_owner IS NOT NULL AND o.lease_until > $2)
                             OR (o.status = 'pending' AND o.id < d.id)))
                ORDER BY d.next_attempt_at, d.id LIMIT $5),
            one AS (
                SELECT DISTINCT ON (app_id, dialect, chat_id) id, next_attempt_at FROM due
                ORDER BY app_id, dialect, chat_id, id),
            pick AS (
                SELECT d.id FROM deliveries d
                WHERE d.id IN (SELECT id FROM one ORDER BY next_attempt_at, id LIMIT $6)
                FOR UPDATE SKIP LOCKED)
            UPDATE deliveries d SET lease_owner = $7, lease_until = $8 FROM pick
            WHERE d.id = pick.id
            RETURNING ",
            delivery_cols!("d.")
        );
        let only: Option<Vec<i64>> = lease.only_apps.map(|a| a.iter().map(|x| x.0).collect());
        let skip: Vec<i64> = lease.skip_apps.iter().map(|x| x.0).collect();
        let scan = i64_of(lease.limit.saturating_mul(SCAN_PER_LEASE));
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
                &scan,
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
        // attempt is logged under the number it takes.
        const SQL: &str = "WITH u AS (
                UPDATE deliveries SET status = $3, attempts = attempts + 1, next_attempt_at = $4,
                    lease_owner = NULL, lease_until = NULL
                WHERE id = $1 AND lease_owner = $2
                RETURNING id, attempts)
            INSERT INTO delivery_attempts(delivery, n, at, status, latency_ms, error)
            SELECT u.id, u.attempts, $5, $6, $7, $8 FROM u";
        let (status, next_at) = match next {
            Next::Delivered => (DeliveryStatus::Delivered, None),
            Next::RetryAt(t) => (DeliveryStatus::Retrying, Some(t)),
            Next::Failed => (DeliveryStatus::Failed, None),
        };
        let c = self.client().await?;
        let n = execute(
            &c,
            SQL,
            &[
                &delivery,
                &owner,
                &status.as_str(),
                &next_at,
                &attempt.at,
                &attempt.status,
                &attempt.latency_ms,
                &attempt.error.map(|e| e.as_str()),
            ],
        )
        .await?;
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
}
