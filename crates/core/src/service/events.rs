//! Event use cases: subscriptions, routing the outbox, and the deliverer's bookkeeping.

use super::Core;
use crate::error::{Entity, Error, Result};
use crate::events::route::{hearers, new_event_id, EventDialect};
use crate::events::schedule::Schedule;
use crate::events::*;
use crate::ids::{AppId, ChatId, TenantId};
use crate::model::{Actor, App, Chat, Member, Millis};
use crate::store::DeliveryLease;
use std::collections::HashMap;
use std::sync::Arc;

/// A subscription as an operator asks for it.
#[derive(Debug, Clone)]
pub struct SubscribeCmd {
    pub tenant: TenantId,
    pub app: AppId,
    pub dialect: String,
    pub mode: Mode,
    pub url: String,
    pub encrypt_key: String,
    pub verification_token: String,
    pub event_types: Vec<String>,
}

/// A webhook URL's longest accepted form.
const MAX_URL: usize = 2048;

impl Core {
    /// Checks a subscription request against the rules every dialect shares; the caller
    /// verifies the URL with the receiver (the dialect's challenge) before [`Core::subscribe`].
    pub async fn check_subscription(&self, cmd: &SubscribeCmd) -> Result<App> {
        let app = self.app(cmd.tenant, cmd.app).await?;
        match cmd.mode {
            Mode::Webhook => {
                let u = cmd.url.as_str();
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(Error::invalid("url", "must be an http:// or https:// URL"));
                }
                if u.len() > MAX_URL || u.chars().any(|c| c.is_control() || c == ' ') {
                    return Err(Error::invalid("url", "is not a valid URL"));
                }
            }
            Mode::LongConnection if !cmd.url.is_empty() => {
                return Err(Error::invalid("url", "a long connection has no URL"));
            }
            Mode::LongConnection => {}
        }
        if cmd.event_types.is_empty() {
            return Err(Error::invalid(
                "event_types",
                "must name at least one event type",
            ));
        }
        for (field, v) in [
            ("encrypt_key", &cmd.encrypt_key),
            ("verification_token", &cmd.verification_token),
        ] {
            if v.len() > 256 || v.chars().any(char::is_control) {
                return Err(Error::invalid(
                    field,
                    "must be at most 256 printable characters",
                ));
            }
        }
        Ok(app)
    }

    /// Creates or replaces the app's subscription for the dialect.
    pub async fn subscribe(&self, cmd: SubscribeCmd) -> Result<Subscription> {
        self.check_subscription(&cmd).await?;
        let now = self.now_ms();
        let mut types = cmd.event_types;
        types.sort();
        types.dedup();
        let sub = Subscription {
            tenant: cmd.tenant,
            app: cmd.app,
            dialect: cmd.dialect,
            mode: cmd.mode,
            url: cmd.url,
            encrypt_key: cmd.encrypt_key,
            verification_token: cmd.verification_token,
            event_types: types,
            created_at: now,
            updated_at: now,
        };
        Ok(self.store.put_subscription(sub).await?)
    }

    pub async fn subscriptions(&self, tenant: TenantId, app: AppId) -> Result<Vec<Subscription>> {
        self.app(tenant, app).await?;
        Ok(self.store.list_subscriptions(tenant, Some(app)).await?)
    }

    /// The app's subscription for one dialect.
    pub async fn subscription(
        &self,
        tenant: TenantId,
        app: AppId,
        dialect: &str,
    ) -> Result<Subscription> {
        self.subscriptions(tenant, app)
            .await?
            .into_iter()
            .find(|s| s.dialect == dialect)
            .ok_or(Error::NotFound(Entity::Subscription))
    }

    /// Removes a subscription and drops its open deliveries; returns how many were dropped.
    pub async fn unsubscribe(&self, tenant: TenantId, app: AppId, dialect: &str) -> Result<u64> {
        self.app(tenant, app).await?;
        let dropped = self.store.delete_subscription(app, dialect).await?;
        tracing::info!(app = app.0, dialect, dropped, "subscription removed");
        Ok(dropped)
    }

    /// Routes up to `limit` changes from the outbox into deliveries, as `owner`; returns
    /// how many changes were routed. Each change is routed once, whichever node does it.
    pub async fn route_changes(
        &self,
        owner: &str,
        dialects: &[Arc<dyn EventDialect>],
        limit: usize,
        lease_ms: i64,
    ) -> Result<usize> {
        let now = self.now_ms();
        let changes = self
            .store
            .lease_changes(owner, limit, now, now + lease_ms)
            .await?;
        if changes.is_empty() {
            return Ok(0);
        }
        let mut subs: HashMap<TenantId, Vec<Subscription>> = HashMap::new();
        let mut apps: HashMap<AppId, Option<App>> = HashMap::new();
        let mut out = Vec::new();
        for c in &changes {
            if let std::collections::hash_map::Entry::Vacant(e) = subs.entry(c.tenant) {
                e.insert(self.store.list_subscriptions(c.tenant, None).await?);
            }
        }
        // Every chat of the batch whose tenant has subscribers, read once, all together
        // (membership is read when routing runs either way).
        let mut wanted: Vec<ChatId> = changes
            .iter()
            .filter(|c| !subs[&c.tenant].is_empty())
            .map(|c| c.chat)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        let chats: HashMap<ChatId, Option<(Chat, Vec<Member>)>> = if wanted.is_empty() {
            HashMap::new()
        } else {
            let read = self.store.chats_with_members(&wanted).await?;
            wanted.into_iter().zip(read).collect()
        };
        for c in &changes {
            let tenant_subs = &subs[&c.tenant];
            if tenant_subs.is_empty() {
                continue;
            }
            let Some(Some((chat, members))) = chats.get(&c.chat) else {
                continue;
            };
            // Subscribers of a dialect that hears every chat hear this one as members do.
            let everywhere: Vec<AppId> = tenant_subs
                .iter()
                .filter(|s| {
                    dialects
                        .iter()
                        .any(|d| d.name() == s.dialect && d.hears_every_chat())
                })
                .map(|s| s.app)
                .collect();
            let is_member = |app: AppId| {
                members.iter().any(|m| m.actor == Actor::App(app))
                    || matches!(&c.body, ChangeBody::MembersRemoved { members, .. }
                        if members.contains(&Actor::App(app)))
            };
            for h in hearers(c, chat, members, &everywhere) {
                let member = is_member(h.app);
                // Nothing that happened before a subscription existed is its news (a
                // backlog routed late, an app subscribed while the router was behind).
                let subscribed = |s: &&Subscription| s.app == h.app && s.created_at <= c.at;
                for sub in tenant_subs.iter().filter(subscribed) {
                    let Some(d) = dialects.iter().find(|d| d.name() == sub.dialect) else {
                        continue;
                    };
                    if (!member && !d.hears_every_chat()) || !d.announces(&c.body) {
                        continue;
                    }
                    if let std::collections::hash_map::Entry::Vacant(e) = apps.entry(h.app) {
                        e.insert(self.store.get_app(h.app).await?);
                    }
                    let Some(app) = apps[&h.app].as_ref().filter(|a| a.tenant == c.tenant) else {
                        continue;
                    };
                    let Some(event_type) = d.event_type(app, &h) else {
                        continue;
                    };
                    if !sub.event_types.iter().any(|t| t == event_type) {
                        continue;
                    }
                    out.push(NewDelivery {
                        event_id: new_event_id(),
                        tenant: c.tenant,
                        app: h.app,
                        dialect: sub.dialect.clone(),
                        mode: sub.mode,
                        event_type: event_type.to_string(),
                        chat: c.chat,
                        message: c.body.message().map(|m| m.id),
                        seq: c.seq,
                        body: c.body.clone(),
                        created_at: now,
                    });
                }
            }
        }
        let seqs: Vec<i64> = changes.iter().map(|c| c.seq).collect();
        self.store.route_changes(owner, &seqs, out).await?;
        Ok(changes.len())
    }

    /// Leases due deliveries for a deliverer.
    pub async fn lease_deliveries(&self, lease: DeliveryLease<'_>) -> Result<Vec<Delivery>> {
        Ok(self.store.lease_deliveries(lease).await?)
    }

    /// Records attempt number `d.attempts + 1` of a leased delivery and schedules what
    /// follows; returns it (or `None` when `owner` had lost the lease).
    pub async fn finish_attempt(
        &self,
        d: &Delivery,
        owner: &str,
        attempt: Attempt,
        schedule: &Schedule,
    ) -> Result<Option<Next>> {
        let ok = attempt.error.is_none();
        let next = schedule.after(d.attempts + 1, ok, self.now_ms());
        let kept = self
            .store
            .record_attempt(d.id, owner, attempt, next)
            .await?;
        Ok(kept.then_some(next))
    }

    /// An app's deliveries, newest first.
    pub async fn deliveries(&self, q: DeliveryQuery) -> Result<Vec<DeliveryRecord>> {
        self.app(q.tenant, q.app).await?;
        let q = DeliveryQuery {
            limit: q.limit.clamp(1, 200),
            ..q
        };
        Ok(self.store.list_deliveries(q).await?)
    }

    /// One of the tenant's deliveries, by event id, with its attempts.
    pub async fn delivery(&self, tenant: TenantId, event_id: &str) -> Result<DeliveryRecord> {
        self.store
            .get_delivery(tenant, event_id)
            .await?
            .ok_or(Error::NotFound(Entity::Delivery))
    }

    /// Makes a delivery due now again, with the same event id.
    pub async fn redeliver(&self, tenant: TenantId, event_id: &str) -> Result<Delivery> {
        self.tenant(tenant).await?;
        if event_id.len() != 32 || !event_id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::NotFound(Entity::Delivery));
        }
        Ok(self
            .store
            .redeliver(tenant, event_id, self.now_ms())
            .await?)
    }

    /// Deletes finished deliveries older than `keep_ms`; returns how many.
    pub async fn prune_deliveries(&self, keep_ms: i64) -> Result<u64> {
        let before: Millis = self.now_ms() - keep_ms;
        Ok(self.store.prune_deliveries(before).await?)
    }

    /// What the outbox holds now (for monitoring).
    pub async fn outbox_stats(&self) -> Result<crate::store::OutboxStats> {
        Ok(self.store.outbox_stats().await?)
    }
}
