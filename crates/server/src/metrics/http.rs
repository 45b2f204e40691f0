//! Counting, timing and logging every request, outermost but for the request id: the
//! layer sees every answer, timeouts and unknown paths included.
//!
//! The router knows which route matched, the outer layer does not: [`note_route`], a route
//! layer, copies the matched template into a task-local the outer layer sets around the
//! request's future. Handles are looked up once per (route, method, status class) and kept, so a
//! request costs a map read, an atomic add and a histogram push.

use axum::extract::MatchedPath;
use axum::http::{Method, Request};
use axum::response::Response;
use metrics::{Counter, Histogram};
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock, RwLock};
use std::task::{Context, Poll};
use std::time::Instant;
use switchboard_core::observe::CallerNote;
use tokio::task::futures::TaskLocalFuture;

use super::names;

tokio::task_local! {
    /// Where [`note_route`] leaves the matched route for [`Observe`]: a task-local set
    /// around the request's future, so that noting costs no allocation and no extension.
    static ROUTE: RefCell<Option<MatchedPath>>;
}

/// A route layer's request mapping (`Router::route_layer(MapRequestLayer::new(note_route))`):
/// runs only for a request a route matched, inside the request's future (axum calls a
/// route's service when its future is first polled).
pub fn note_route<B>(req: Request<B>) -> Request<B> {
    if let Some(matched) = req.extensions().get::<MatchedPath>() {
        let _ = ROUTE.try_with(|r| *r.borrow_mut() = Some(matched.clone()));
    }
    req
}

/// What the layer does: count and time (when metrics are on), log a line per request (when
/// the access log is on).
#[derive(Clone)]
pub struct Observe {
    routes: Option<Arc<Routes>>,
    access_log: bool,
}

impl Observe {
    pub fn new(metrics: bool, access_log: bool) -> Observe {
        Observe {
            routes: metrics.then(|| Arc::new(Routes::default())),
            access_log,
        }
    }
}

impl<S> tower::Layer<S> for Observe {
    type Service = ObserveService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ObserveService {
            inner,
            observe: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct ObserveService<S> {
    inner: S,
    observe: Observe,
}

impl<S, B> tower::Service<Request<B>> for ObserveService<S>
where
    S: tower::Service<Request<B>, Response = Response>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let o = &self.observe;
        let caller = o.access_log.then(|| {
            let c = Arc::new(CallerNote::default());
            req.extensions_mut().insert(c.clone());
            c
        });
        let request_id = o.access_log.then(|| {
            req.headers()
                .get(crate::REQUEST_ID)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-")
                .to_string()
        });
        let done = Done {
            start: Instant::now(),
            method: req.method().clone(),
            fallback_dialect: crate::paths::dialect(req.uri().path()),
            caller,
            request_id,
            routes: o.routes.clone(),
        };
        ObserveFuture {
            inner: Box::pin(ROUTE.scope(RefCell::new(None), self.inner.call(req))),
            done: Some(done),
        }
    }
}

/// What is known of a request before its answer, to be counted and logged after it.
struct Done {
    start: Instant,
    method: Method,
    /// The dialect by path prefix, for requests no route matched.
    fallback_dialect: &'static str,
    caller: Option<Arc<CallerNote>>,
    request_id: Option<String>,
    routes: Option<Arc<Routes>>,
}

pub struct ObserveFuture<F> {
    inner: Pin<Box<TaskLocalFuture<RefCell<Option<MatchedPath>>, F>>>,
    done: Option<Done>,
}

impl<F, E> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Every field is Unpin (the inner future is boxed).
        let this = self.get_mut();
        let out = std::task::ready!(this.inner.as_mut().poll(cx));
        let route = this
            .inner
            .as_mut()
            .take_value()
            .and_then(RefCell::into_inner);
        if let (Some(d), Ok(res)) = (this.done.take(), &out) {
            d.finish(res, route);
        }
        Poll::Ready(out)
    }
}

impl Done {
    fn finish(self, res: &Response, route: Option<MatchedPath>) {
        let elapsed = self.start.elapsed();
        let status = res.status().as_u16();
        let route = route.as_ref().map(MatchedPath::as_str);
        let dialect = route.map_or(self.fallback_dialect, crate::paths::dialect);
        if let Some(routes) = &self.routes {
            let route = route.unwrap_or(UNMATCHED);
            routes.record(route, dialect, &self.method, status, elapsed.as_secs_f64());
        }
        if self.request_id.is_some() {
            let app = self.caller.as_ref().and_then(|c| c.get()).unwrap_or("-");
            tracing::info!(
                target: "switchboard::access",
                request_id = self.request_id.as_deref().unwrap_or("-"),
                dialect,
                route = route.unwrap_or(UNMATCHED),
                method = %self.method,
                status,
                latency_us = elapsed.as_micros() as u64,
                app,
                "request"
            );
        }
    }
}

/// The route label of a request that no route matched (the raw path is never a label).
const UNMATCHED: &str = "unmatched";

const METHODS: usize = 8;
const CLASSES: usize = 5;

fn method_index(m: &Method) -> usize {
    match *m {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::PATCH => 3,
        Method::DELETE => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        _ => 7,
    }
}

const METHOD_NAMES: [&str; METHODS] = [
    "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "OTHER",
];
const CLASS_NAMES: [&str; CLASSES] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

struct Handles {
    requests: Counter,
    duration: Histogram,
}

/// The handles of one route template, per method and status class, registered on first use.
struct RouteHandles {
    slots: [OnceLock<Handles>; METHODS * CLASSES],
}

/// Keyed by route template; the few dozen templates hash with ahash (a request-controlled
/// key is never stored: only templates the router defines).
#[derive(Default)]
struct Routes(RwLock<HashMap<Box<str>, Arc<RouteHandles>, ahash::RandomState>>);

impl Routes {
    fn record(&self, route: &str, dialect: &'static str, m: &Method, status: u16, secs: f64) {
        let class = usize::from(status / 100).clamp(1, CLASSES) - 1;
        let mi = method_index(m);
        let found = self.0.read().ok().and_then(|r| r.get(route).cloned());
        let rh = found.unwrap_or_else(|| {
            let mut w = self.0.write().unwrap_or_else(|e| e.into_inner());
            w.entry(route.into())
                .or_insert_with(|| {
                    Arc::new(RouteHandles {
                        slots: std::array::from_fn(|_| OnceLock::new()),
                    })
                })
                .clone()
        });
        let h = rh.slots[mi * CLASSES + class].get_or_init(|| {
            let labels = [
                ("dialect", dialect.to_string()),
                ("route", route.to_string()),
                ("method", METHOD_NAMES[mi].to_string()),
                ("status", CLASS_NAMES[class].to_string()),
            ];
            Handles {
                requests: metrics::counter!(names::HTTP_REQUESTS, &labels),
                duration: metrics::histogram!(names::HTTP_DURATION, &labels),
            }
        });
        h.requests.increment(1);
        h.duration.record(secs);
    }
}
