//! The outbound HTTP client for webhooks: HTTP/1.1 with header names written in the exact
//! casing the dialect gives (lark-oapi looks them up case-sensitively), the exact body
//! bytes that were signed, no redirects followed, loopback allowed, no proxy.

use std::time::{Duration, Instant};
use switchboard_core::events::route::Outgoing;
use switchboard_core::events::{Attempt, ErrorClass};
use switchboard_core::model::Millis;

/// The most of an answer body read (a challenge echo is a few dozen bytes).
const MAX_ANSWER: usize = 64 * 1024;

#[derive(Clone)]
pub struct Webhook {
    client: reqwest::Client,
}

/// What a receiver answered.
pub struct Answer {
    pub attempt: Attempt,
    pub body: Vec<u8>,
}

impl Webhook {
    /// A client whose connections must open within `connect_timeout`.
    pub fn new(connect_timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .http1_only()
            .http1_title_case_headers()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(connect_timeout)
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("Switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds");
        Webhook { client }
    }

    /// POSTs `req` to `url`; the whole exchange (connect, send, answer) must end within
    /// `deadline`. Only a 2xx answer is a success.
    pub async fn post_within(
        &self,
        url: &str,
        req: Outgoing,
        now: Millis,
        deadline: Duration,
    ) -> Answer {
        let start = Instant::now();
        let mut b = self.client.post(url).timeout(deadline);
        for (k, v) in &req.headers {
            b = b.header(k.as_str(), v.as_str());
        }
        let result = tokio::time::timeout(deadline, async {
            let res = b.body(req.body).send().await?;
            let status = res.status();
            let mut body = Vec::new();
            let mut res = res;
            while let Some(chunk) = res.chunk().await? {
                if body.len() + chunk.len() > MAX_ANSWER {
                    break;
                }
                body.extend_from_slice(&chunk);
            }
            Ok::<_, reqwest::Error>((status, body))
        })
        .await;
        let latency_ms = start.elapsed().as_millis() as i64;
        let (status, error, body) = match result {
            Err(_) => (None, Some(ErrorClass::Timeout), Vec::new()),
            Ok(Err(e)) if e.is_timeout() => (None, Some(ErrorClass::Timeout), Vec::new()),
            Ok(Err(_)) => (None, Some(ErrorClass::Connect), Vec::new()),
            Ok(Ok((s, body))) => {
                let code = Some(i32::from(s.as_u16()));
                if s.is_success() {
                    (code, None, body)
                } else if s.is_redirection() {
                    (code, Some(ErrorClass::Redirect), body)
                } else {
                    (code, Some(ErrorClass::Status), body)
                }
            }
        };
        Answer {
            attempt: Attempt {
                at: now,
                status,
                latency_ms,
                error,
            },
            body,
        }
    }
}
