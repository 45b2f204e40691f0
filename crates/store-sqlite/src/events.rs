//! The event outbox ([`EventStore`]): subscriptions, the changes the other areas' writes
//! record (`changes.rs`), their routing into deliveries, leases and the delivery log.
//! Writes (leases included) go through the writer, listings run on the reader pool.
//!
//! A lease is live while `lease_until > now`; once `now` reaches it, another owner may take
//! the record. A leased delivery is always open (an attempt's record and a redelivery
//! clear the lease).
//!
//! Heads of lines (migration 0004): in each line, (app, dialect, chat), exactly the
//! lowest-id `pending` delivery has `head = 1`. Every write here keeps that in its
//! transaction (all writes go through the one writer, so nothing races them), and a lease
//! looks only at lease candidates (heads and retrying deliveries, `deliveries_ready`),
//! checking each against the order rules with one probe per rule (`deliveries_leased`,
//! `deliveries_head`, `deliveries_order`): its cost follows the candidates it reads, not
//! the backlog behind the heads.

use crate::rows::{attempt, change, collect, delivery, subscription, DELIVERY_COLS, SUB_COLS};
use crate::{is_unique_violation, sql_err, SqliteStore};
use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};
use std::collections::HashSet;
use switchboard_core::error::Entity;
use switchboard_core::events::*;
use switchboard_core::ids::*;
use switchboard_core::model::*;
use switchboard_core::store::*;

/// [`DELIVERY_COLS`] qualified by `d.`, for the query that joins deliveries with themselves.
const D_COLS: &str = "d.id, d.event_id, d.tenant_id, d.app_id, d.dialect, d.mode, d.event_type, d.chat_id, d.message_id, d.seq, d.body, d.status, d.attempts, d.next_attempt_at, d.created_at";

/// Open deliveries, spelt as the partial indexes spell it (so that they apply).
const OPEN: &str = "status IN ('pending', 'retrying')";

/// Lease candidates, spelt as `deliveries_ready` spells it (so that it applies).
const READY: &str = "(d.head = 1 OR d.status = 'retrying')";

/// Hands the head of the line of delivery `?1` to the line's next pending delivery when
/// the line has no head (after `?1` left `pending`). Every pending delivery of a line is
/// above its head, so the next one is the first pending above `?1`.
const PROMOTE: &str = "UPDATE deliveries SET head = 1 WHERE id = (
        SELECT n.id FROM deliveries x, deliveries n
        WHERE x.id = ?1 AND n.app_id = x.app_id AND n.dialect = x.dialect AND n.chat_id = x.chat_id
          AND n.status IN ('pending', 'retrying') AND n.status = 'pending' AND n.id > x.id
        ORDER BY n.id LIMIT 1)
    AND NOT EXISTS (SELECT 1 FROM deliveries x, deliveries h
        WHERE x.id = ?1 AND h.app_id = x.app_id AND h.dialect = x.dialect AND h.chat_id = x.chat_id
          AND h.head = 1)";

/// `delivery` with its attempts, oldest first.
fn with_attempts(c: &Connection, delivery: Delivery) -> StoreResult<DeliveryRecord> {
    let mut s = c
        .prepare_cached("SELECT at, status, latency_ms, error, wire FROM delivery_attempts WHERE delivery_id = ?1 ORDER BY n")
        .map_err(sql_err)?;
    let attempts = s
        .query_map([delivery.id], attempt)
        .map_err(sql_err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(sql_err)?
        .into_iter()
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(DeliveryRecord { delivery, attempts })
}

/// App ids as a JSON array, for `json_each` (one statement text whatever the list).
fn app_list(apps: &[AppId]) -> String {
    serde_json::to_string(&apps.iter().map(|a| a.0).collect::<Vec<_>>())
        .expect("a list of numbers serialises")
}

/// Deletes the attempts of the deliveries `cond` selects, then those deliveries; returns
/// how many deliveries went.
fn delete_deliveries(
    c: &Connection,
    cond: &str,
    args: &[&dyn rusqlite::ToSql],
) -> StoreResult<u64> {
    c.prepare_cached(&format!(
        "DELETE FROM delivery_attempts WHERE delivery_id IN (SELECT id FROM deliveries WHERE {cond})"
    ))
    .and_then(|mut s| s.execute(args))
    .map_err(sql_err)?;
    let n = c
        .prepare_cached(&format!("DELETE FROM deliveries WHERE {cond}"))
        .and_then(|mut s| s.execute(args))
        .map_err(sql_err)?;
    Ok(n as u64)
}

#[async_trait]
impl EventStore for SqliteStore {
    async fn put_subscription(&self, sub: Subscription) -> StoreResult<Subscription> {
        let types = serde_json::to_string(&sub.event_types)
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        self.write(move |c| {
            c.prepare_cached(&format!(
                "INSERT INTO subscriptions({SUB_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
                 ON CONFLICT(app_id, dialect) DO UPDATE SET tenant_id = excluded.tenant_id, mode = excluded.mode,
                   url = excluded.url, encrypt_key = excluded.encrypt_key,
                   verification_token = excluded.verification_token, event_types = excluded.event_types,
                   updated_at = excluded.updated_at
                 RETURNING {SUB_COLS}"
            ))
            .and_then(|mut s| {
                s.query_row(
                    params![
                        sub.tenant.0,
                        sub.app.0,
                        sub.dialect,
                        sub.mode.as_str(),
                        sub.url,
                        sub.encrypt_key,
                        sub.verification_token,
                        types,
                        sub.created_at,
                        sub.updated_at
                    ],
                    subscription,
                )
            })
            .map_err(sql_err)?
        })
        .await
    }

    async fn list_subscriptions(
        &self,
        tenant: TenantId,
        app: Option<AppId>,
    ) -> StoreResult<Vec<Subscription>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {SUB_COLS} FROM subscriptions WHERE tenant_id = ?1 AND (?2 IS NULL OR app_id = ?2)
                     ORDER BY app_id, dialect"
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![tenant.0, app.map(|a| a.0)], subscription)
                .map_err(sql_err)?;
            collect(rows)
        })
        .await
    }

    async fn delete_subscription(&self, app: AppId, dialect: &str) -> StoreResult<u64> {
        let dialect = dialect.to_string();
        self.write(move |c| {
            let n = c
                .prepare_cached("DELETE FROM subscriptions WHERE app_id = ?1 AND dialect = ?2")
                .and_then(|mut s| s.execute(params![app.0, dialect]))
                .map_err(sql_err)?;
            if n == 0 {
                return Err(StoreError::NotFound(Entity::Subscription));
            }
            // Every open delivery of the app's lines goes, their heads with them: the lines
            // are empty of pending ones, so none needs a head.
            delete_deliveries(
                c,
                &format!("app_id = ?1 AND dialect = ?2 AND {OPEN}"),
                &[&app.0, &dialect],
            )
        })
        .await
    }

    async fn lease_changes(
        &self,
        owner: &str,
        limit: usize,
        now: Millis,
        until: Millis,
    ) -> StoreResult<Vec<Change>> {
        // Most polls find the outbox empty: a read says so without queueing on the writer.
        let any: bool = self.read_now(|c| {
            c.prepare_cached("SELECT EXISTS(SELECT 1 FROM changes)")
                .and_then(|mut s| s.query_row([], |r| r.get(0)))
                .map_err(sql_err)
        })?;
        if !any || limit == 0 {
            return Ok(Vec::new());
        }
        let owner = owner.to_string();
        self.write(move |c| {
            let taken: bool = c
                .prepare_cached(
                    "SELECT EXISTS(SELECT 1 FROM changes WHERE lease_owner IS NOT NULL AND lease_until > ?2 AND lease_owner <> ?1)",
                )
                .and_then(|mut s| s.query_row(params![owner, now], |r| r.get(0)))
                .map_err(sql_err)?;
            if taken {
                return Ok(Vec::new());
            }
            let mut s = c
                .prepare_cached(
                    "UPDATE changes SET lease_owner = ?1, lease_until = ?2
                     WHERE seq IN (SELECT seq FROM changes ORDER BY seq LIMIT ?3)
                     RETURNING seq, tenant_id, chat_id, at, body",
                )
                .map_err(sql_err)?;
            let rows = s
                .query_map(params![owner, until, limit as i64], change)
                .map_err(sql_err)?;
            let mut out = collect(rows)?;
            out.sort_unstable_by_key(|ch| ch.seq);
            Ok(out)
        })
        .await
    }

    async fn route_changes(
        &self,
        owner: &str,
        seqs: &[i64],
        deliveries: Vec<NewDelivery>,
    ) -> StoreResult<()> {
        let owner = owner.to_string();
        let seqs = seqs.to_vec();
        // Bodies are encoded here, off the writer thread.
        let deliveries: Vec<(NewDelivery, Vec<u8>)> = deliveries
            .into_iter()
            .map(|d| {
                let body = d.body.encode();
                (d, body)
            })
            .collect();
        self.write(move |c| {
            let mut kept = HashSet::with_capacity(seqs.len());
            {
                let mut s = c
                    .prepare_cached("DELETE FROM changes WHERE seq = ?1 AND lease_owner = ?2")
                    .map_err(sql_err)?;
                for seq in seqs {
                    if s.execute(params![seq, owner]).map_err(sql_err)? == 1 {
                        kept.insert(seq);
                    }
                }
            }
            let mut s = c
                .prepare_cached(&format!(
                    "INSERT INTO deliveries(event_id, tenant_id, app_id, dialect, mode, event_type, chat_id, message_id, seq, body, status, attempts, next_attempt_at, created_at, head)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, '{}', 0, ?11, ?11,
                             NOT EXISTS (SELECT 1 FROM deliveries h
                                         WHERE h.app_id = ?3 AND h.dialect = ?4 AND h.chat_id = ?7 AND h.head = 1))",
                    DeliveryStatus::Pending.as_str()
                ))
                .map_err(sql_err)?;
            // One at a time, in the order given: a delivery is its line's head iff the line
            // has none yet (has no pending delivery), the ones before it in this call
            // included.
            for (d, body) in deliveries.iter().filter(|(d, _)| kept.contains(&d.seq)) {
                let r = s.execute(params![
                    d.event_id,
                    d.tenant.0,
                    d.app.0,
                    d.dialect,
                    d.mode.as_str(),
                    d.event_type,
                    d.chat.0,
                    d.message.map(|m| m.0),
                    d.seq,
                    body,
                    d.created_at
                ]);
                match r {
                    Ok(_) => {}
                    Err(e) if is_unique_violation(&e) => return Err(StoreError::Duplicate("event_id")),
                    Err(e) => return Err(sql_err(e)),
                }
            }
            Ok(())
        })
        .await
    }

    async fn lease_deliveries(&self, lease: DeliveryLease<'_>) -> StoreResult<Vec<Delivery>> {
        if lease.limit == 0 || lease.only_apps.is_some_and(|a| a.is_empty()) {
            return Ok(Vec::new());
        }
        // Most polls find nothing to lease: a read says so without queueing on the writer
        // (candidates of this mode that are due, unleased and of the asked apps).
        let (mode, now) = (lease.mode.as_str(), lease.now);
        let only = lease.only_apps.map(app_list);
        let skip = app_list(lease.skip_apps);
        let due: bool = self.read_now(|c| {
            c.prepare_cached(&format!(
                "SELECT EXISTS(SELECT 1 FROM deliveries d
                   WHERE {READY} AND d.mode = ?2 AND d.next_attempt_at <= ?1
                     AND (?3 IS NULL OR d.app_id IN (SELECT value FROM json_each(?3)))
                     AND d.app_id NOT IN (SELECT value FROM json_each(?4))
                     AND (d.lease_until IS NULL OR d.lease_until <= ?1))"
            ))
            .and_then(|mut s| s.query_row(params![now, mode, only, skip], |r| r.get(0)))
            .map_err(sql_err)
        })?;
        if !due {
            return Ok(Vec::new());
        }
        let owner = lease.owner.to_string();
        let (limit, until) = (lease.limit, lease.until);
        self.write(move |c| {
            // Candidates only (heads and retrying ones), oldest due first; each one due,
            // unleased, of the asked apps, and the one of its line to go now: no other
            // delivery of the line is leased (a leased one is always a candidate, and in
            // `deliveries_leased`), no pending one is below it (the head is the lowest),
            // and no due retrying one of its mode is below it (so that each line offers at
            // most one, its lowest, and `LIMIT` counts lines). The scan stops at `limit`.
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {D_COLS} FROM deliveries d
                     WHERE {READY} AND d.mode = ?2 AND d.next_attempt_at <= ?1
                       AND (?3 IS NULL OR d.app_id IN (SELECT value FROM json_each(?3)))
                       AND d.app_id NOT IN (SELECT value FROM json_each(?4))
                       AND (d.lease_until IS NULL OR d.lease_until <= ?1)
                       AND NOT EXISTS (SELECT 1 FROM deliveries o
                           WHERE o.app_id = d.app_id AND o.dialect = d.dialect AND o.chat_id = d.chat_id
                             AND o.lease_owner IS NOT NULL AND o.lease_until > ?1 AND o.id <> d.id)
                       AND (d.head = 1 OR NOT EXISTS (SELECT 1 FROM deliveries h
                           WHERE h.app_id = d.app_id AND h.dialect = d.dialect AND h.chat_id = d.chat_id
                             AND h.head = 1 AND h.id < d.id))
                       AND NOT EXISTS (SELECT 1 FROM deliveries r
                           WHERE r.app_id = d.app_id AND r.dialect = d.dialect AND r.chat_id = d.chat_id
                             AND r.{OPEN} AND r.id < d.id AND r.mode = d.mode AND r.next_attempt_at <= ?1)
                     ORDER BY d.next_attempt_at, d.id LIMIT ?5"
                ))
                .map_err(sql_err)?;
            let mut rows = s
                .query(params![now, mode, only, skip, limit as i64])
                .map_err(sql_err)?;
            let mut out: Vec<Delivery> = Vec::new();
            let mut lines = HashSet::new();
            while out.len() < limit {
                let Some(r) = rows.next().map_err(sql_err)? else {
                    break;
                };
                let d = delivery(r).map_err(sql_err)??;
                // One at a time per line, within this lease too (the query already offers
                // one per line; this keeps it so whatever the plan).
                if lines.insert((d.app, d.dialect.clone(), d.chat)) {
                    out.push(d);
                }
            }
            drop(rows);
            let mut s = c
                .prepare_cached("UPDATE deliveries SET lease_owner = ?2, lease_until = ?3 WHERE id = ?1")
                .map_err(sql_err)?;
            for d in &out {
                s.execute(params![d.id, owner, until]).map_err(sql_err)?;
            }
            Ok(out)
        })
        .await
    }

    async fn record_attempt(
        &self,
        delivery: i64,
        owner: &str,
        attempt: Attempt,
        next: Next,
    ) -> StoreResult<bool> {
        let owner = owner.to_string();
        let (status, next_at) = match next {
            Next::Delivered => (DeliveryStatus::Delivered, None),
            Next::RetryAt(t) => (DeliveryStatus::Retrying, Some(t)),
            Next::Failed => (DeliveryStatus::Failed, None),
        };
        self.write(move |c| {
            let n: Option<i64> = c
                .prepare_cached(
                    "UPDATE deliveries SET attempts = attempts + 1, status = ?3, next_attempt_at = ?4,
                       lease_owner = NULL, lease_until = NULL, head = 0
                     WHERE id = ?1 AND lease_owner = ?2 RETURNING attempts",
                )
                .and_then(|mut s| {
                    s.query_row(params![delivery, owner, status.as_str(), next_at], |r| r.get(0))
                        .optional()
                })
                .map_err(sql_err)?;
            let Some(n) = n else {
                return Ok(false);
            };
            // It left `pending` (if it was): its line's next pending delivery is the head.
            c.prepare_cached(PROMOTE)
                .and_then(|mut s| s.execute(params![delivery]))
                .map_err(sql_err)?;
            c.prepare_cached(
                "INSERT INTO delivery_attempts(delivery_id, n, at, status, latency_ms, error, wire) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )
            .and_then(|mut s| {
                s.execute(params![
                    delivery,
                    n,
                    attempt.at,
                    attempt.status,
                    attempt.latency_ms,
                    attempt.error.map(ErrorClass::as_str),
                    attempt.wire
                ])
            })
            .map_err(sql_err)?;
            Ok(true)
        })
        .await
    }

    async fn list_deliveries(&self, q: DeliveryQuery) -> StoreResult<Vec<DeliveryRecord>> {
        self.read(move |c| {
            let mut s = c
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLS} FROM deliveries
                     WHERE tenant_id = ?1 AND app_id = ?2 AND id < ?3
                       AND (?4 IS NULL OR status = ?4) AND (?5 IS NULL OR event_type = ?5)
                     ORDER BY id DESC LIMIT ?6"
                ))
                .map_err(sql_err)?;
            let rows = s
                .query_map(
                    params![
                        q.tenant.0,
                        q.app.0,
                        q.before.unwrap_or(i64::MAX),
                        q.status.map(DeliveryStatus::as_str),
                        q.event_type,
                        q.limit
                    ],
                    delivery,
                )
                .map_err(sql_err)?;
            collect(rows)?
                .into_iter()
                .map(|d| with_attempts(c, d))
                .collect()
        })
        .await
    }

    async fn get_delivery(
        &self,
        tenant: TenantId,
        event_id: &str,
    ) -> StoreResult<Option<DeliveryRecord>> {
        self.read_now(|c| {
            let d = c
                .prepare_cached(&format!(
                    "SELECT {DELIVERY_COLS} FROM deliveries WHERE event_id = ?1 AND tenant_id = ?2"
                ))
                .and_then(|mut s| {
                    s.query_row(params![event_id, tenant.0], delivery)
                        .optional()
                })
                .map_err(sql_err)?
                .transpose()?;
            d.map(|d| with_attempts(c, d)).transpose()
        })
    }

    async fn redeliver(
        &self,
        tenant: TenantId,
        event_id: &str,
        now: Millis,
    ) -> StoreResult<Delivery> {
        let event_id = event_id.to_string();
        // A never-attempted delivery stays pending and keeps its place (head or not); any
        // other becomes retrying, which is never a head (and was not one: only a pending
        // delivery is), so no line changes its head.
        self.write(move |c| {
            c.prepare_cached(&format!(
                "UPDATE deliveries SET status = CASE WHEN attempts = 0 THEN 'pending' ELSE 'retrying' END,
                   head = CASE WHEN attempts = 0 THEN head ELSE 0 END,
                   next_attempt_at = ?3, lease_owner = NULL, lease_until = NULL
                 WHERE event_id = ?1 AND tenant_id = ?2 RETURNING {DELIVERY_COLS}"
            ))
            .and_then(|mut s| s.query_row(params![event_id, tenant.0, now], delivery).optional())
            .map_err(sql_err)?
            .transpose()?
            .ok_or(StoreError::NotFound(Entity::Delivery))
        })
        .await
    }

    async fn prune_deliveries(&self, before: Millis) -> StoreResult<u64> {
        // Finished deliveries only: never a head, so no line changes its head.
        self.write(move |c| {
            delete_deliveries(
                c,
                "created_at < ?1 AND status IN ('delivered', 'failed')",
                &[&before],
            )
        })
        .await
    }

    async fn outbox_stats(&self) -> StoreResult<OutboxStats> {
        self.read(|c| {
            let mut s = c
                .prepare_cached(
                    "SELECT dialect, count(*), min(created_at) FROM deliveries
                     WHERE status IN ('pending', 'retrying') GROUP BY dialect ORDER BY dialect",
                )
                .map_err(sql_err)?;
            let open = s
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get(2)?))
                })
                .map_err(sql_err)?
                .map(|r| r.map(|(d, n, at)| (d, u64::try_from(n).unwrap_or(0), at)))
                .collect::<Result<Vec<_>, _>>()
                .map_err(sql_err)?;
            let unrouted: i64 = c
                .query_row("SELECT count(*) FROM changes", [], |r| r.get(0))
                .map_err(sql_err)?;
            Ok(OutboxStats {
                open,
                unrouted: u64::try_from(unrouted).unwrap_or(0),
            })
        })
        .await
    }
}
