//! The admin API (`/admin/v1`): provisioning tenants, users, apps, chats and members, and
//! injecting messages as any user or app. Documented in `docs/admin-api.md`.
//!
//! Every error is `{"code": "...", "message": "..."}` with a 4xx status (503 when the store
//! is unavailable); every path segment naming a resource accepts the canonical id and each
//! dialect's rendering of it.
//!
//! One file per job: `error` (the error type and its table), `extract` (JSON, query and
//! path extractors, the paging query), `auth` (the bearer-token middleware), `render` (id
//! resolution and JSON rendering), then the handlers by resource, each with its request
//! bodies: `tenants`, `users`, `apps`, `chats` (chats and members), `messages`, `events`
//! (subscriptions, the delivery log, redelivery). The router is below.

mod apps;
mod auth;
mod chats;
mod error;
mod events;
mod extract;
mod messages;
mod reads;
mod render;
mod tenants;
mod users;

pub use error::AdminError;
pub use extract::{AdminJson, AdminPath, AdminQuery};

use crate::AppState;
use apps::{create_app, get_app, list_apps, reveal_secret, rotate_secret, update_app};
use auth::require_admin;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{any, get, post};
use axum::Router;
use chats::{
    add_members, create_chat, dissolve_chat, get_chat, list_chats, list_members, list_user_chats,
    remove_members, set_role,
};
use events::{
    delete_subscription, get_delivery, list_deliveries, list_subscriptions, put_subscription,
    redeliver,
};
use messages::{
    edit_message, find_anywhere, get_message, list_messages, recall_message, send_message,
};
use tenants::{create_tenant, get_tenant, list_tenants};
use users::{create_user, get_user, issue_wps_sid, list_users};

/// The admin API's routes: `/admin/v1/…` behind the admin token, and a `not_found` answer
/// for anything else under `/admin`.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/tenants", post(create_tenant).get(list_tenants))
        .route("/tenants/{tenant}", get(get_tenant))
        .route("/tenants/{tenant}/users", post(create_user).get(list_users))
        .route("/tenants/{tenant}/users/{user}", get(get_user))
        .route("/tenants/{tenant}/users/{user}/chats", get(list_user_chats))
        .route(
            "/tenants/{tenant}/users/{user}/wps_sid",
            post(issue_wps_sid),
        )
        .route("/tenants/{tenant}/apps", post(create_app).get(list_apps))
        .route(
            "/tenants/{tenant}/apps/{app}",
            get(get_app).put(update_app).patch(update_app),
        )
        .route("/tenants/{tenant}/apps/{app}/secret", get(reveal_secret))
        .route(
            "/tenants/{tenant}/apps/{app}/rotate_secret",
            post(rotate_secret),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/events",
            get(list_subscriptions),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/events/{dialect}",
            axum::routing::put(put_subscription).delete(delete_subscription),
        )
        .route(
            "/tenants/{tenant}/apps/{app}/deliveries",
            get(list_deliveries),
        )
        .route("/tenants/{tenant}/deliveries/{event_id}", get(get_delivery))
        .route(
            "/tenants/{tenant}/deliveries/{event_id}/redeliver",
            post(redeliver),
        )
        .route("/tenants/{tenant}/messages/{message}", get(find_anywhere))
        .route("/tenants/{tenant}/chats", post(create_chat).get(list_chats))
        .route(
            "/tenants/{tenant}/chats/{chat}",
            get(get_chat).delete(dissolve_chat),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/members",
            get(list_members)
                .post(add_members)
                .patch(set_role)
                .delete(remove_members),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/read",
            post(reads::mark_read),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/messages",
            post(send_message).get(list_messages),
        )
        .route(
            "/tenants/{tenant}/chats/{chat}/messages/{message}",
            get(get_message).put(edit_message).delete(recall_message),
        )
        .fallback(|| async { no_such_endpoint() })
        .method_not_allowed_fallback(|| async {
            AdminError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "method not allowed on this endpoint",
            )
        })
        .route_layer(middleware::from_fn_with_state(state.clone(), require_admin))
        .with_state(state);
    // Everything else under `/admin` (other versions, `/admin/v1/`) is the admin API's too.
    let nowhere = || async { no_such_endpoint() };
    Router::new()
        .nest("/admin/v1", api)
        .route("/admin", any(nowhere))
        .route("/admin/", any(nowhere))
        .route("/admin/v1/", any(nowhere))
        .route("/admin/{*rest}", any(nowhere))
}

fn no_such_endpoint() -> AdminError {
    AdminError::new(StatusCode::NOT_FOUND, "not_found", "no such admin endpoint")
}
