//! Switchboard's web console at `/console`: an operator's and bot developer's tool.
//!
//! - `session`: sign-in with the admin token, the session cookie, CSRF;
//! - `api`: in-process calls to the admin API and the dialects: everything a page shows or
//!   changes goes through them, so the console adds no second source of truth;
//! - `model`: the admin API's answers as the pages read them;
//! - one file per page: `playground` (chat as a user; `compose` sends, edits and recalls,
//!   `live` streams its timeline, `inspect` is a message's own page),
//!   `admin` (tenants, users, apps, chats), `deliveries` (the event log), `inspector` (one
//!   message through every dialect's get-message);
//! - `page`: what every page shares (the layout's data, errors, forms); `names`: the names
//!   and quotes pages show;
//! - `assets`: the stylesheet and the script, embedded in the binary.
//!
//! Pages are server-rendered from askama templates (`templates/`), checked at compile time.

mod admin;
mod api;
mod assets;
mod compose;
mod deliveries;
mod inspect;
mod inspector;
mod live;
mod model;
mod names;
mod page;
mod playground;
mod pretty;
pub mod session;

pub use api::Api;

use axum::middleware;
use axum::response::Redirect;
use axum::routing::{get, post};
use axum::Router;
use session::Sessions;
use switchboard_core::Core;

/// What every console handler shares.
#[derive(Clone)]
pub struct Console {
    pub(crate) api: Api,
    pub(crate) core: Core,
    pub(crate) sessions: Sessions,
    admin_token: String,
    /// Becomes true when the server shuts down: live streams end then.
    pub(crate) closing: tokio::sync::watch::Receiver<bool>,
}

impl Console {
    /// A console over `routes` (the admin API and the dialects, without the console), with
    /// `core` for the clock the dialects sign against.
    pub fn new(routes: Router, core: Core, admin_token: String) -> Self {
        Console {
            api: Api::new(routes, admin_token.clone()),
            core,
            sessions: Sessions::default(),
            admin_token,
            closing: tokio::sync::watch::channel(false).1,
        }
    }

    /// Ends the live streams when `closing` turns true (the server's shutdown), so that an
    /// open page does not hold the graceful drain.
    pub fn ending_with(mut self, closing: tokio::sync::watch::Receiver<bool>) -> Self {
        self.closing = closing;
        self
    }

    /// Waits `d`; false when the server began to shut down first (the stream should end).
    pub(crate) async fn wait(&self, d: std::time::Duration) -> bool {
        let mut closing = self.closing.clone();
        if *closing.borrow() {
            return false;
        }
        tokio::select! {
            () = tokio::time::sleep(d) => true,
            changed = closing.changed() => match changed {
                Ok(()) => !*closing.borrow(),
                // No one is left to close it: only the wait remains.
                Err(_) => {
                    tokio::time::sleep(d).await;
                    true
                }
            },
        }
    }
}

/// The console's routes, all under `/console`.
pub fn router(console: Console) -> Router {
    let signed = Router::new()
        .route("/console/playground", get(playground::page))
        .route("/console/playground/send", post(compose::send))
        .route("/console/playground/edit", post(compose::edit))
        .route("/console/playground/recall", post(compose::recall))
        .route("/console/playground/live", get(live::timeline))
        .route("/console/messages", get(inspect::page))
        .route(
            "/console/admin",
            get(admin::tenants).post(admin::create_tenant),
        )
        .route("/console/admin/tenant", get(admin::tenant))
        .route("/console/admin/users", post(admin::create_user))
        .route("/console/admin/apps", post(admin::create_app))
        .route(
            "/console/admin/app",
            get(admin::app).post(admin::update_app),
        )
        .route("/console/admin/app/reveal", post(admin::reveal))
        .route("/console/admin/app/rotate", post(admin::rotate))
        .route("/console/admin/app/events", post(admin::subscribe))
        .route("/console/admin/app/events/delete", post(admin::unsubscribe))
        .route("/console/admin/chats", post(admin::create_chat))
        .route("/console/admin/chat", get(admin::chat).post(admin::members))
        .route("/console/deliveries", get(deliveries::page))
        .route("/console/deliveries/redeliver", post(deliveries::redeliver))
        .route("/console/deliveries/live", get(deliveries::live))
        .route("/console/deliveries/event", get(deliveries::event))
        .route("/console/inspector", get(inspector::page))
        .route("/console/sign-out", post(page::sign_out))
        .route_layer(middleware::from_fn_with_state(
            console.sessions.clone(),
            session::require_session,
        ));
    Router::new()
        .route(
            "/console",
            get(|| async { Redirect::to("/console/playground") }),
        )
        .route(
            "/console/",
            get(|| async { Redirect::to("/console/playground") }),
        )
        .route(
            "/console/sign-in",
            get(page::sign_in_form).post(page::sign_in),
        )
        .route("/console/assets/{file}", get(assets::serve))
        .route("/console/{*rest}", get(page::not_found))
        .merge(signed)
        .layer(middleware::map_response(security_headers))
        .with_state(console)
}

/// Only this origin's script and stylesheet run, nothing frames a page, no URL of the
/// console (they carry ids) goes to another site in a `Referer`, and no page is cached.
async fn security_headers(mut res: axum::response::Response) -> axum::response::Response {
    use axum::http::{header, HeaderValue};
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // Pages show tenants' data and carry the session's CSRF token: kept out of caches
    // (the assets say otherwise for themselves).
    h.entry(header::CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    res
}
