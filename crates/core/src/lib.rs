//! Switchboard's message domain.
//!
//! - [`ids`]: typed canonical ids and the reversible codecs dialects render them with;
//! - [`model`]: tenants, users, apps, chats, members and messages;
//! - [`service`]: the use cases, behind the cheap-to-clone [`Core`] handle;
//! - [`store`]: the [`Store`] port every backend implements;
//! - [`auth`]: constant-time comparison and stateless access tokens;
//! - [`error`]: the error catalogue every dialect maps once;
//! - [`events`]: the event outbox, its routing rules and retry schedule;
//! - [`files`]: stored files and images (keys, limits, what a message references);
//! - [`observe`]: who called, as the dialects tell the server's access log;
//! - [`json`]: JSON kept as text (a message's payloads);
//! - [`input`]: checks and lenient parsing of untrusted input, shared by every API;
//! - `testing` (feature): the store conformance suite.
//!
//! This crate knows no web framework, no SQL driver and no vendor.

pub mod auth;
pub mod cache;
pub mod clock;
pub mod content;
pub mod error;
pub mod events;
pub mod files;
pub mod ids;
pub mod input;
pub mod json;
pub mod model;
pub mod observe;
pub mod ratelimit;
pub mod service;
pub mod store;
#[cfg(feature = "testing")]
pub mod testing;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use ids::{AppId, ChatId, MessageId, TenantId, UserId};
pub use service::{Access, Core, CoreConfig, MessageView, Party};
pub use store::{Store, StoreError};
