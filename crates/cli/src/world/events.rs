//! An app's event subscriptions in a world file (`[tenants.apps.events.feishu]` …):
//! checked with the rest of the file, saved after the app exists.
//!
//! A world saves a webhook subscription without the URL-verification challenge the admin
//! API sends first: in CI the receiver usually starts after the server (docs/ci.md).

use super::{Problems, Where};
use serde::Deserialize;
use switchboard_core::events::{Mode, Subscription};
use switchboard_core::ids::{AppId, TenantId};
use switchboard_core::service::SubscribeCmd;
use switchboard_core::Core;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventDecl {
    mode: Spanned<String>,
    url: Option<Spanned<String>>,
    #[serde(default)]
    encrypt_key: String,
    #[serde(default)]
    verification_token: String,
    event_types: Option<Vec<Spanned<String>>>,
}

/// What the server's event dialects offer, for checking a file.
#[derive(Debug, Clone)]
pub struct DialectInfo {
    pub name: &'static str,
    pub event_types: &'static [&'static str],
    pub long_connection: bool,
}

/// One subscription to save.
#[derive(Debug, Clone)]
pub struct EventPlan {
    pub dialect: String,
    pub mode: Mode,
    pub url: String,
    pub encrypt_key: String,
    pub verification_token: String,
    /// Sorted, without duplicates; every type of the dialect when the file names none.
    pub event_types: Vec<String>,
    pub at: Where,
}

/// Checks one app's `events` table; `at` turns a span into a line.
pub(super) fn check(
    decls: std::collections::BTreeMap<String, EventDecl>,
    dialects: &[DialectInfo],
    p: &mut Problems,
    at: &dyn Fn(&std::ops::Range<usize>) -> Where,
) -> Vec<EventPlan> {
    let mut out = Vec::new();
    for (dialect, d) in decls {
        let m_at = at(&d.mode.span());
        let Some(info) = dialects.iter().find(|i| i.name == dialect) else {
            let names: Vec<_> = dialects.iter().map(|i| i.name).collect();
            p.add(
                m_at,
                format!(
                    "unknown event dialect {dialect:?} (one of {})",
                    names.join(", ")
                ),
            );
            continue;
        };
        let mode = Mode::parse(d.mode.get_ref());
        let url = d
            .url
            .as_ref()
            .map(|u| u.get_ref().clone())
            .unwrap_or_default();
        let url_at = d.url.as_ref().map(|u| at(&u.span())).unwrap_or(m_at);
        match mode {
            None => p.add(m_at, "mode must be \"webhook\" or \"long_connection\""),
            Some(Mode::LongConnection) if !info.long_connection => p.add(
                m_at,
                format!("{dialect} has no long-connection mode; use \"webhook\""),
            ),
            Some(Mode::LongConnection) if d.url.is_some() => {
                p.add(url_at, "a long connection has no url")
            }
            Some(Mode::Webhook) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                p.add(url_at, "a webhook needs an http:// or https:// url")
            }
            Some(Mode::Webhook)
                if url.len() > 2048 || url.chars().any(|c| c.is_control() || c == ' ') =>
            {
                p.add(url_at, "url is not a valid URL")
            }
            Some(_) => {}
        }
        for (field, v) in [
            ("encrypt_key", &d.encrypt_key),
            ("verification_token", &d.verification_token),
        ] {
            if v.len() > 256 || v.chars().any(char::is_control) {
                p.add(
                    m_at,
                    format!("{field} must be at most 256 printable characters"),
                );
            }
        }
        let mut types: Vec<String> = match d.event_types {
            Some(list) => list
                .into_iter()
                .filter_map(|t| {
                    let known = info.event_types.contains(&t.get_ref().as_str());
                    if !known {
                        p.add(
                            at(&t.span()),
                            format!("{:?} is not a {dialect} event type", t.get_ref()),
                        );
                    }
                    known.then(|| t.into_inner())
                })
                .collect(),
            None => info.event_types.iter().map(|t| t.to_string()).collect(),
        };
        if types.is_empty() {
            p.add(m_at, "event_types must name at least one event type");
        }
        types.sort();
        types.dedup();
        if let Some(mode) = mode {
            out.push(EventPlan {
                dialect,
                mode,
                url,
                encrypt_key: d.encrypt_key,
                verification_token: d.verification_token,
                event_types: types,
                at: m_at,
            });
        }
    }
    out
}

/// Saves the subscriptions that differ from the ones the app has; returns how many.
pub(super) async fn apply(
    core: &Core,
    tenant: TenantId,
    app: AppId,
    plans: &[EventPlan],
    file: &str,
) -> anyhow::Result<usize> {
    let have = core.subscriptions(tenant, app).await?;
    let mut changed = 0;
    for e in plans {
        let same = |s: &Subscription| {
            let mut types = s.event_types.clone();
            types.sort();
            s.dialect == e.dialect
                && s.mode == e.mode
                && s.url == e.url
                && s.encrypt_key == e.encrypt_key
                && s.verification_token == e.verification_token
                && types == e.event_types
        };
        if have.iter().any(same) {
            continue;
        }
        changed += 1;
        let cmd = SubscribeCmd {
            tenant,
            app,
            dialect: e.dialect.clone(),
            mode: e.mode,
            url: e.url.clone(),
            encrypt_key: e.encrypt_key.clone(),
            verification_token: e.verification_token.clone(),
            event_types: e.event_types.clone(),
        };
        core.subscribe(cmd)
            .await
            .map_err(|err| anyhow::anyhow!("{file}:{}: {err}", e.at.0))?;
    }
    Ok(changed)
}
