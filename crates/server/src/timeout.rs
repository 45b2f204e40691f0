//! The request timeout, answered in the error envelope of the API the request called.
//!
//! Unlike tower-http's `TimeoutLayer`, which arms a timer before it first polls the
//! request, the timer is armed only once the request has actually had to wait: most
//! requests (every cached read) complete on their first poll and never touch the runtime's
//! timer wheel, whose registration takes a lock and may wake the timer driver.

use axum::http::{HeaderValue, Request, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

/// The answer to a request that timed out, by the API its path belongs to (the prefixes
/// that `build_app`'s routers serve).
fn timeout_answer(uri: &Uri, request_id: Option<&HeaderValue>) -> Response {
    let path = uri.path();
    match crate::paths::dialect(path) {
        "feishu" | "hi" => {
            let id = request_id.and_then(|v| v.to_str().ok());
            switchboard_dialect_lark::error::timeout_response(path, id)
        }
        "wps" => switchboard_dialect_wps::error::timeout_response(),
        "yunxin" => switchboard_dialect_yunxin::error::timeout_response(),
        _ => (
            StatusCode::REQUEST_TIMEOUT,
            Json(json!({ "code": "timeout", "message": "request timed out" })),
        )
            .into_response(),
    }
}

#[derive(Clone, Copy)]
pub struct RequestTimeoutLayer(pub Duration);

impl<S> tower::Layer<S> for RequestTimeoutLayer {
    type Service = RequestTimeout<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestTimeout {
            inner,
            timeout: self.0,
        }
    }
}

#[derive(Clone)]
pub struct RequestTimeout<S> {
    inner: S,
    timeout: Duration,
}

impl<S, B> tower::Service<Request<B>> for RequestTimeout<S>
where
    S: tower::Service<Request<B>, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = TimeoutFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // Both clones share the request's buffers (reference counts, no copies).
        let uri = req.uri().clone();
        let request_id = req.headers().get(crate::REQUEST_ID).cloned();
        TimeoutFuture {
            deadline: tokio::time::Instant::now() + self.timeout,
            inner: Box::pin(self.inner.call(req)),
            sleep: None,
            uri,
            request_id,
        }
    }
}

pub struct TimeoutFuture<F> {
    inner: Pin<Box<F>>,
    deadline: tokio::time::Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
    uri: Uri,
    request_id: Option<HeaderValue>,
}

impl<F, E> Future for TimeoutFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        if let Poll::Ready(r) = this.inner.as_mut().poll(cx) {
            return Poll::Ready(r);
        }
        let deadline = this.deadline;
        let sleep = this
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if sleep.as_mut().poll(cx).is_ready() {
            let answer = timeout_answer(&this.uri, this.request_id.as_ref());
            return Poll::Ready(Ok(answer));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    async fn call(app: &Router, path: &str) -> (StatusCode, Option<String>, serde_json::Value) {
        let req = Request::builder()
            .uri(path)
            .header(crate::REQUEST_ID, "abc123")
            .body(axum::body::Body::empty())
            .unwrap();
        let res = app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let logid = res
            .headers()
            .get("x-tt-logid")
            .map(|v| v.to_str().unwrap().to_string());
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        let body = serde_json::from_slice(&body)
            .unwrap_or_else(|_| serde_json::Value::String(String::from_utf8_lossy(&body).into()));
        (status, logid, body)
    }

    #[tokio::test]
    async fn slow_requests_time_out_in_their_apis_envelope_and_fast_ones_do_not() {
        let slow = || async {
            tokio::time::sleep(Duration::from_secs(5)).await;
            "slow"
        };
        let app = Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/waits",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    "waited"
                }),
            )
            .route("/open-apis/im/v1/messages/{id}", get(slow))
            .route("/open-apis/im/messages/{id}", get(slow))
            .route("/v7/chats/{id}", get(slow))
            .route("/openapi/v7/chats/{id}", get(slow))
            .route("/im/v2/teams/{id}", get(slow))
            .route("/admin/v1/tenants", get(slow))
            .layer(RequestTimeoutLayer(Duration::from_millis(100)));
        assert_eq!(call(&app, "/fast").await.0, StatusCode::OK);
        assert_eq!(call(&app, "/waits").await.0, StatusCode::OK);

        let t = std::time::Instant::now();
        let (status, logid, body) = call(&app, "/open-apis/im/v1/messages/om_1").await;
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["code"], 408);
        assert_eq!(body["error"]["log_id"], "abc123", "Feishu: {body}");
        assert_eq!(logid.as_deref(), Some("abc123"));

        let (status, _, body) = call(&app, "/open-apis/im/messages/1").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(
            (&body["code"], &body["success"], &body["traceId"]),
            (&json!(408), &json!(false), &json!("abc123")),
            "Hi: {body}"
        );

        for wps in ["/v7/chats/1", "/openapi/v7/chats/1"] {
            let (status, _, body) = call(&app, wps).await;
            assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
            assert_eq!(body, json!({ "code": 408_001, "msg": "request timed out" }));
        }

        let (status, _, body) = call(&app, "/im/v2/teams/1").await;
        assert_eq!(status, StatusCode::OK, "Yunxin answers every code with 200");
        assert_eq!(body, json!({ "code": 408, "msg": "timeout", "data": {} }));

        let (status, _, body) = call(&app, "/admin/v1/tenants").await;
        assert_eq!(status, StatusCode::REQUEST_TIMEOUT);
        assert_eq!(body["code"], "timeout");
    }
}
