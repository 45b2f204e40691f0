//! `switchboard admin user wps-sid …`: issue a user's WPS `wps_sid` (docs/admin-api.md).
//! One admin API call; `admin::run` sends it and prints the answer like every other admin
//! command (`--field wps_sid` prints the bare value).

use crate::admin::{enc, TENANT};
use clap::Args;
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Args)]
pub struct WpsSidArgs {
    #[arg(help = TENANT)]
    tenant: String,
    /// User: canonical id, user_id, account_id or union_id (on_…).
    user: String,
    /// Lifetime of the sid in seconds (default 30 days, at most one year).
    #[arg(long)]
    ttl_secs: Option<i64>,
}

/// The admin API call for `wps-sid`.
pub fn request(a: WpsSidArgs) -> (Method, String, Option<Value>) {
    let body = a.ttl_secs.map(|t| json!({ "ttl_secs": t }));
    (
        Method::POST,
        format!("/tenants/{}/users/{}/wps_sid", enc(&a.tenant), enc(&a.user)),
        body,
    )
}
