//! The download path of the `url` a Yunxin attachment carries for a file stored here
//! (`switchboard_dialect_yunxin::content::file_url`): `GET /files/v1/messages/
//! {message_server_id}/{key}`.
//!
//! Yunxin's own attachments point at its object storage; ours point here. The request is
//! signed as every Yunxin server API call is (`AppKey`, `Nonce`, `CurTime`, `CheckSum`),
//! and access is checked as for the message it names (`Core::download_from_message`): the
//! message must be in the app's tenant (a Yunxin app reads every conversation of its
//! tenant, so it reads as the tenant's operator) and its content must reference the key.
//! Refusals come in Yunxin's envelope (HTTP 200, `code`), as from any Yunxin endpoint. It
//! lives in the server rather than the Yunxin dialect because it serves the store's files,
//! which no API owns.

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use switchboard_core::files::FileError;
use switchboard_core::service::Access;
use switchboard_core::Core;
use switchboard_dialect_yunxin::auth::Caller;
use switchboard_dialect_yunxin::error::{code, YunxinError};
use switchboard_dialect_yunxin::{ids, YunxinState};

/// The route, over its own Yunxin state (its rate limit is counted apart from the API's).
pub fn router(core: Core, config: switchboard_dialect_yunxin::Config) -> Router {
    let path = format!(
        "{}{{message_server_id}}/{{key}}",
        switchboard_dialect_yunxin::content::FILE_URL_PREFIX
    );
    Router::new()
        .route(&path, get(download))
        .with_state(YunxinState::new(core, config))
}

async fn download(
    State(yx): State<YunxinState>,
    caller: Caller,
    Path((message, key)): Path<(String, String)>,
) -> Result<Response, YunxinError> {
    let id = match ids::parse_message_server_id(&message) {
        Ok(Some(id)) => id,
        Ok(None) => return Err(YunxinError::message_not_found()),
        Err(why) => return Err(YunxinError::param(why)),
    };
    let (file, bytes) = yx
        .core
        .download_from_message(caller.tenant(), Access::Admin, id, &key)
        .await
        .map_err(refusal)?;
    let mime = HeaderValue::from_str(&file.mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, mime)], bytes).into_response())
}

/// A refused download in Yunxin's words: a file the message does not name, or that is not
/// stored, is not found; what the message's own rules refuse reads as from the query API.
fn refusal(e: FileError) -> YunxinError {
    match e {
        FileError::Core(e) => YunxinError::from(e),
        FileError::NotFound | FileError::NotInMessage | FileError::NotUploader => {
            YunxinError::new(code::NOT_FOUND, "file not exist")
        }
        other => YunxinError::param(other.to_string()),
    }
}
