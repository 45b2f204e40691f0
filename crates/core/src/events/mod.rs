//! Events: the transactional outbox and what the deliverer works from.
//!
//! 1. A store records a [`Change`] in the same transaction as the write that causes it
//!    (a message appended, edited or removed; members added or removed; a chat dissolved).
//!    Changes are the outbox: a crash loses none and invents none.
//! 2. The router ([`route`]) turns each change into zero or more [`NewDelivery`]s, one per
//!    subscribed app that may hear it, and the store swaps the change for them in one
//!    transaction ([`crate::store::EventStore::route_changes`]): exactly once.
//! 3. A deliverer (the server's: it speaks HTTP) leases due deliveries, makes an attempt
//!    and records it; the [`schedule::Schedule`] says what comes next.
//!
//! Nothing here names a vendor: a dialect says what a neutral [`route::EventKind`] is
//! called on its wire ([`route::EventDialect`]) and renders it.

pub mod model;
pub mod route;
pub mod schedule;

pub use model::*;
