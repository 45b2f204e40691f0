//! yunxin dialect (routes arrive with its issue).

pub mod ids;

use axum::Router;
use serde::{Deserialize, Serialize};
use switchboard_core::Core;

/// This dialect's settings (the `[yunxin]` section of the config file).
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct Config {}

/// The dialect's routes, at the vendor's absolute paths, with their state applied.
pub fn router(_core: Core, _config: Config) -> Router {
    Router::new()
}
