//! The outbound HTTP client for webhooks: HTTP/1.1 with header names written in the exact
//! casing the dialect gives (lark-oapi looks them up case-sensitively), the exact body
//! bytes that were signed, no redirects followed, loopback allowed, no proxy. The wire is
//! our own HTTP/1.1 client's ([`super::http1`]): hyper's cannot keep `AppKey` or `MD5` as
//! such.

use super::http1::{self, Client};
use std::time::{Duration, Instant};
use switchboard_core::events::route::Outgoing;
use switchboard_core::events::{Attempt, ErrorClass};
use switchboard_core::model::Millis;

/// The most of an answer body read (a challenge echo is a few dozen bytes).
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Clone)]
pub struct Webhook {
    client: Client,
}

/// What a receiver answered.
pub struct Answer {
    pub attempt: Attempt,
    pub body: Vec<u8>,
}

impl Webhook {
    /// A client whose connections must open within `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        Webhook {
            client: Client::new(connect_timeout),
        }
    }

    /// POSTs `req` to `url`; the whole exchange (connect, send, answer) must end within
    /// `deadline`. Only a 2xx answer is a success; a 3xx is `redirect` (never followed).
    pub async fn post_within(
        &self,
        url: &str,
        req: Outgoing,
        now: Millis,
        deadline: Duration,
    ) -> Answer {
        let start = Instant::now();
        let result = tokio::time::timeout(
            deadline,
            self.client.post(url, &req.headers, &req.body, MAX_ANSWER),
        )
        .await;
        let latency_ms = start.elapsed().as_millis() as i64;
        let (status, error, body) = match result {
            Err(_) | Ok(Err(http1::Error::ConnectTimeout)) => {
                (None, Some(ErrorClass::Timeout), Vec::new())
            }
            Ok(Err(e)) => {
                tracing::debug!(url, error = %e, "webhook request failed");
                (None, Some(ErrorClass::Connect), Vec::new())
            }
            Ok(Ok(res)) => {
                let code = Some(i32::from(res.status));
                let error = match res.status {
                    200..=299 => None,
                    300..=399 => Some(ErrorClass::Redirect),
                    _ => Some(ErrorClass::Status),
                };
                (code, error, res.body)
            }
        };
        Answer {
            attempt: Attempt {
                at: now,
                status,
                latency_ms,
                error,
                wire: None,
            },
            body,
        }
    }
}
