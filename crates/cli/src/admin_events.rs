//! `switchboard admin events …`: event subscriptions, the delivery log and redelivery
//! (docs/events.md, "Admin API"). Each subcommand is one admin API call; `admin::run`
//! sends it and prints the answer like every other admin command.

use crate::admin::{enc, query_string, APP, TENANT};
use clap::Subcommand;
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Subcommand)]
pub enum EventsCmd {
    /// Create or replace an app's subscription for one dialect; a webhook's receiver must
    /// first echo the URL-verification challenge.
    Put {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
        /// Event dialect: feishu or hi.
        dialect: String,
        /// webhook or long_connection.
        #[arg(long)]
        mode: String,
        /// The receiver's URL (webhook mode).
        #[arg(long)]
        url: Option<String>,
        /// Encrypt key: events are sent AES-256-CBC encrypted with it (default: plaintext).
        #[arg(long)]
        encrypt_key: Option<String>,
        /// Verification token, sent as header.token in every event.
        #[arg(long)]
        verification_token: Option<String>,
        /// An event type to deliver (e.g. im.message.receive_v1); repeat for more.
        #[arg(long = "event-type", value_name = "TYPE", required = true)]
        event_types: Vec<String>,
    },
    /// List an app's subscriptions.
    List {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
    },
    /// Remove an app's subscription for one dialect; its pending deliveries are dropped.
    Delete {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
        /// Event dialect: feishu or hi.
        dialect: String,
    },
    /// The app's delivery log, newest first.
    Deliveries {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
        /// Only deliveries in this state: pending, delivered, retrying or failed.
        #[arg(long)]
        status: Option<String>,
        /// Only deliveries of this event type.
        #[arg(long)]
        event_type: Option<String>,
        /// The page after this one: the previous answer's `next`.
        #[arg(long)]
        after: Option<String>,
        /// Deliveries per page, 1 to 200 (default 50).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Attempt a delivery again now, with the same event id, whatever its state.
    Redeliver {
        #[arg(help = TENANT)]
        tenant: String,
        /// The delivery's event id (32 hex digits, header.event_id).
        event_id: String,
    },
}

/// The admin API call a subcommand makes: method, path below /admin/v1, body.
pub fn request(cmd: EventsCmd) -> (Method, String, Option<Value>) {
    match cmd {
        EventsCmd::Put {
            tenant,
            app,
            dialect,
            mode,
            url,
            encrypt_key,
            verification_token,
            event_types,
        } => {
            let mut b = json!({ "mode": mode, "event_types": event_types });
            if let Some(v) = url {
                b["url"] = json!(v);
            }
            if let Some(v) = encrypt_key {
                b["encrypt_key"] = json!(v);
            }
            if let Some(v) = verification_token {
                b["verification_token"] = json!(v);
            }
            (
                Method::PUT,
                format!(
                    "/tenants/{}/apps/{}/events/{}",
                    enc(&tenant),
                    enc(&app),
                    enc(&dialect)
                ),
                Some(b),
            )
        }
        EventsCmd::List { tenant, app } => (
            Method::GET,
            format!("/tenants/{}/apps/{}/events", enc(&tenant), enc(&app)),
            None,
        ),
        EventsCmd::Delete {
            tenant,
            app,
            dialect,
        } => (
            Method::DELETE,
            format!(
                "/tenants/{}/apps/{}/events/{}",
                enc(&tenant),
                enc(&app),
                enc(&dialect)
            ),
            None,
        ),
        EventsCmd::Deliveries {
            tenant,
            app,
            status,
            event_type,
            after,
            limit,
        } => {
            let mut q = Vec::new();
            if let Some(v) = status {
                q.push(format!("status={}", query(&v)));
            }
            if let Some(v) = event_type {
                q.push(format!("event_type={}", query(&v)));
            }
            if let Some(v) = after {
                q.push(format!("after={}", query(&v)));
            }
            if let Some(l) = limit {
                q.push(format!("limit={l}"));
            }
            let q = query_string(&q);
            (
                Method::GET,
                format!("/tenants/{}/apps/{}/deliveries{q}", enc(&tenant), enc(&app)),
                None,
            )
        }
        EventsCmd::Redeliver { tenant, event_id } => (
            Method::POST,
            format!(
                "/tenants/{}/deliveries/{}/redeliver",
                enc(&tenant),
                enc(&event_id)
            ),
            None,
        ),
    }
}

/// A query value: a path segment's escapes plus the characters a query gives meaning to.
fn query(s: &str) -> String {
    enc(s)
        .replace('&', "%26")
        .replace('=', "%3D")
        .replace('+', "%2B")
        .replace('#', "%23")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deliveries_query_escapes_its_values() {
        let (m, path, body) = request(EventsCmd::Deliveries {
            tenant: "1".into(),
            app: "cli_x".into(),
            status: Some("failed".into()),
            event_type: Some("a&b=c".into()),
            after: None,
            limit: Some(10),
        });
        assert_eq!(m, Method::GET);
        assert_eq!(
            path,
            "/tenants/1/apps/cli_x/deliveries?status=failed&event_type=a%26b%3Dc&limit=10"
        );
        assert!(body.is_none());
    }

    #[test]
    fn put_sends_only_the_fields_given() {
        let (m, path, body) = request(EventsCmd::Put {
            tenant: "1".into(),
            app: "2".into(),
            dialect: "feishu".into(),
            mode: "webhook".into(),
            url: Some("http://127.0.0.1:8000/events".into()),
            encrypt_key: None,
            verification_token: Some("vt".into()),
            event_types: vec![
                "im.message.receive_v1".into(),
                "im.chat.disbanded_v1".into(),
            ],
        });
        assert_eq!(m, Method::PUT);
        assert_eq!(path, "/tenants/1/apps/2/events/feishu");
        assert_eq!(
            body.unwrap(),
            json!({ "mode": "webhook", "url": "http://127.0.0.1:8000/events",
                    "verification_token": "vt",
                    "event_types": ["im.message.receive_v1", "im.chat.disbanded_v1"] })
        );
    }
}
