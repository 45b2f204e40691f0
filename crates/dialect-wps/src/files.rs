//! A message's file, image, audio or video through WPS:
//! `GET /v7/chats/{chat_id}/messages/{message_id}/resources/{storage_key}/download`
//! answers the bytes (with their type and name) to a member of the chat, for a key the
//! message's content names. The same stored file Feishu's resource download serves: a
//! `storage_key` here is the key Feishu calls `image_key`/`file_key`.
//! <https://open.wps.cn/documents/app-integration-dev/wps365/server/im/message/get-message.html>

use crate::auth::Caller;
use crate::error::{code, WResult, WpsError};
use crate::extract::WpsPath;
use crate::WpsState;
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use switchboard_core::files::FileError;

pub(crate) async fn download(
    State(s): State<WpsState>,
    c: Caller,
    WpsPath((chat, msg, key)): WpsPath<(String, String, String)>,
) -> WResult<Response> {
    let chat = s.chat_id(&chat)?;
    let id = s.message_id(&msg)?;
    // A message id names its chat: one named under another chat is not there.
    if id.chat() != chat {
        return Err(WpsError::message_not_found());
    }
    let (f, bytes) = match s
        .core
        .download_from_message(c.tenant, c.access(), id, &key)
        .await
    {
        Ok(found) => found,
        // Not a member, no such message, a recalled one: as a get answers them.
        Err(FileError::Core(e)) => return Err(e.into()),
        Err(FileError::NotInMessage | FileError::NotFound) => {
            return Err(WpsError::new(
                StatusCode::NOT_FOUND,
                code::NOT_FOUND,
                format!("the message has no resource {key:?}"),
            ))
        }
        Err(e) => return Err(WpsError::invalid(e.to_string())),
    };
    let mime = HeaderValue::from_str(&f.mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    let disposition = HeaderValue::from_bytes(f.disposition().as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response())
}
