//! Images and files (Feishu only; Hi documents none of them):
//!
//! - `POST /open-apis/im/v1/images` (multipart `image_type` = `message`|`avatar`, `image`)
//!   → `{image_key}`; `GET /open-apis/im/v1/images/:image_key` → the bytes, for the app
//!   that uploaded it (and not for an avatar);
//! - `POST /open-apis/im/v1/files` (multipart `file_type`, `file_name`, `duration`, `file`)
//!   → `{file_key}`; `GET /open-apis/im/v1/files/:file_key` → the bytes, for its uploader;
//! - `GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file` → the
//!   bytes of a key the message references, for a member of its chat.
//!
//! <https://open.feishu.cn/document/server-docs/im-v1/image/create>,
//! <https://open.feishu.cn/document/server-docs/im-v1/file/create>,
//! <https://open.feishu.cn/document/server-docs/im-v1/message/get-2>.
//!
//! A form is read whole before anything is checked (the upload limit bounds how much is
//! read), so a truncated or malformed body, a missing or unknown field value and an
//! oversize part are refused (234001, 234006) before the domain sees the upload, which
//! then checks it again (size, emptiness, image format) before writing. Refusals come from
//! [`error::file_table`]. Downloads answer the bytes with the stored `Content-Type` and a
//! `Content-Disposition` naming the file, which lark-oapi reads as `file_name`.

use crate::auth::{BotOnly, Caller, ReadHistory, Scope, Scoped, UploadResources};
use crate::error::{self, ok, LarkError};
use crate::extract::LarkQuery;
use crate::face::Ctx;
use crate::{ids, LarkState};
use axum::extract::{FromRequest, FromRequestParts, Multipart, Path, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use switchboard_core::files::{FileError, FileKey, FileKind, StoredFile, Upload};

/// Room in a request body for the form around the largest upload (boundaries, part
/// headers, the other fields).
pub const FORM_SLACK_BYTES: usize = 64 << 10;

/// The most a form's text field may hold.
const MAX_TEXT_FIELD: usize = 4 << 10;

/// `image_type` values.
const IMAGE_TYPES: &[&str] = &["message", "avatar"];
/// `file_type` values.
const FILE_TYPES: &[&str] = &["opus", "mp4", "pdf", "doc", "xls", "ppt", "stream"];

/// A [`Scoped`] caller whose missing bot ability reads as the file APIs' 234007.
pub struct FileBot<S>(Scoped<S>);

impl<S: Scope> FromRequestParts<LarkState> for FileBot<S> {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, s: &LarkState) -> Result<Self, LarkError> {
        Scoped::<S>::from_request_parts(parts, s)
            .await
            .map(FileBot)
            .map_err(|mut e| {
                if e.code == error::BOT_DISABLED {
                    e.code = error::FILE_BOT_DISABLED;
                    e.msg = "App does not enable bot feature.".into();
                }
                e
            })
    }
}

fn refuse(ctx: &Ctx, e: FileError) -> LarkError {
    let (status, code, msg) = error::file_table(&e);
    if let FileError::Core(
        switchboard_core::Error::Internal(cause) | switchboard_core::Error::Unavailable(cause),
    ) = &e
    {
        tracing::error!(error = %cause, log_id = %ctx.log_id.0, "lark file request failed");
    }
    LarkError::new(ctx, status, code, msg)
}

fn invalid(ctx: &Ctx, what: impl std::fmt::Display) -> LarkError {
    LarkError::new(
        ctx,
        StatusCode::BAD_REQUEST,
        error::FILE_INVALID_PARAM,
        format!("Invalid request param: {what}."),
    )
}

/// A form as read: its text fields and its one file part.
struct Form {
    text: Vec<(String, String)>,
    file: Option<Vec<u8>>,
    /// The file part's declared `Content-Type`.
    file_type: Option<String>,
}

impl Form {
    fn text(&self, name: &str) -> Option<&str> {
        self.text
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads the whole form; the part named `file_field` up to `limit` bytes (one byte more
/// marks it oversize for the domain to refuse), text fields up to [`MAX_TEXT_FIELD`].
async fn read_form(
    ctx: &Ctx,
    req: Request,
    file_field: &str,
    limit: usize,
) -> Result<Form, LarkError> {
    let broken = |e: axum::extract::multipart::MultipartError| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            refuse(ctx, FileError::TooLarge { limit })
        } else {
            invalid(
                ctx,
                format_args!("malformed multipart body: {}", e.body_text()),
            )
        }
    };
    let mut mp = Multipart::from_request(req, &())
        .await
        .map_err(|e| invalid(ctx, format_args!("{}", e.body_text())))?;
    let mut form = Form {
        text: Vec::new(),
        file: None,
        file_type: None,
    };
    while let Some(mut field) = mp.next_field().await.map_err(broken)? {
        let name = field.name().unwrap_or_default().to_string();
        if name == file_field {
            if form.file.is_some() {
                return Err(invalid(ctx, format_args!("{file_field} given twice")));
            }
            form.file_type = field.content_type().map(str::to_string);
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(broken)? {
                if buf.len() + chunk.len() > limit {
                    return Err(refuse(ctx, FileError::TooLarge { limit }));
                }
                buf.extend_from_slice(&chunk);
            }
            form.file = Some(buf);
        } else {
            let mut buf = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(broken)? {
                if buf.len() + chunk.len() > MAX_TEXT_FIELD {
                    return Err(invalid(ctx, format_args!("{name} is too long")));
                }
                buf.extend_from_slice(&chunk);
            }
            let text = String::from_utf8(buf)
                .map_err(|_| invalid(ctx, format_args!("{name} is not UTF-8")))?;
            form.text.push((name, text));
        }
    }
    Ok(form)
}

fn one_of<'a>(
    ctx: &Ctx,
    form: &'a Form,
    name: &str,
    allowed: &[&str],
) -> Result<&'a str, LarkError> {
    let v = form
        .text(name)
        .ok_or_else(|| invalid(ctx, format_args!("{name} is required")))?;
    if !allowed.contains(&v) {
        return Err(invalid(
            ctx,
            format_args!("{name} must be one of {}", allowed.join(", ")),
        ));
    }
    Ok(v)
}

/// `POST /open-apis/im/v1/images`.
pub async fn upload_image(
    State(s): State<LarkState>,
    FileBot(bot): FileBot<UploadResources>,
    req: Request,
) -> Result<Response, LarkError> {
    let ctx = &bot.ctx;
    let limit = s.core.file_limits().max_for(FileKind::Image);
    let form = read_form(ctx, req, "image", limit).await?;
    let image_type = one_of(ctx, &form, "image_type", IMAGE_TYPES)?.to_string();
    let bytes = form.file.ok_or_else(|| invalid(ctx, "image is required"))?;
    let up = Upload {
        kind: FileKind::Image,
        name: String::new(),
        mime: form.file_type,
        purpose: image_type,
        bytes,
    };
    let f = s
        .core
        .upload_file(bot.app.tenant, bot.actor(), up)
        .await
        .map_err(|e| refuse(ctx, e))?;
    Ok(ok(ctx, json!({ "image_key": f.key.as_str() })))
}

/// `POST /open-apis/im/v1/files`.
pub async fn upload_file(
    State(s): State<LarkState>,
    FileBot(bot): FileBot<UploadResources>,
    req: Request,
) -> Result<Response, LarkError> {
    let ctx = &bot.ctx;
    let limit = s.core.file_limits().max_for(FileKind::File);
    let form = read_form(ctx, req, "file", limit).await?;
    let file_type = one_of(ctx, &form, "file_type", FILE_TYPES)?.to_string();
    let name = form
        .text("file_name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| invalid(ctx, "file_name is required"))?
        .to_string();
    // Milliseconds, for opus and mp4; kept by the message that sends the key, not here.
    if let Some(d) = form.text("duration").filter(|d| !d.is_empty()) {
        if d.parse::<u64>().is_err() {
            return Err(invalid(ctx, "duration must be an integer (milliseconds)"));
        }
    }
    let bytes = form.file.ok_or_else(|| invalid(ctx, "file is required"))?;
    let up = Upload {
        kind: FileKind::File,
        name,
        mime: form.file_type.filter(|t| t != "application/octet-stream"),
        purpose: file_type,
        bytes,
    };
    let f = s
        .core
        .upload_file(bot.app.tenant, bot.actor(), up)
        .await
        .map_err(|e| refuse(ctx, e))?;
    Ok(ok(ctx, json!({ "file_key": f.key.as_str() })))
}

/// The key in a path, of `kind`: any other string names no stored file.
fn own_key(ctx: &Ctx, raw: &str, kind: FileKind) -> Result<FileKey, LarkError> {
    FileKey::parse(raw)
        .filter(|k| k.kind() == kind)
        .ok_or_else(|| refuse(ctx, FileError::NotFound))
}

/// `GET /open-apis/im/v1/images/:image_key`.
pub async fn get_image(
    State(s): State<LarkState>,
    FileBot(bot): FileBot<BotOnly>,
    Path(raw): Path<String>,
) -> Result<Response, LarkError> {
    let (f, bytes) = own_download(&s, &bot, &raw, FileKind::Image).await?;
    if f.purpose == "avatar" {
        return Err(invalid(&bot.ctx, "avatar images cannot be downloaded"));
    }
    Ok(download(&f, bytes))
}

/// `GET /open-apis/im/v1/files/:file_key`.
pub async fn get_file(
    State(s): State<LarkState>,
    FileBot(bot): FileBot<BotOnly>,
    Path(raw): Path<String>,
) -> Result<Response, LarkError> {
    let (f, bytes) = own_download(&s, &bot, &raw, FileKind::File).await?;
    Ok(download(&f, bytes))
}

/// A file of `kind` the calling bot uploaded, by the key in the path.
async fn own_download(
    s: &LarkState,
    bot: &Caller,
    raw: &str,
    kind: FileKind,
) -> Result<(StoredFile, Vec<u8>), LarkError> {
    let key = own_key(&bot.ctx, raw, kind)?;
    s.core
        .download_own(bot.app.tenant, bot.actor(), &key)
        .await
        .map_err(|e| refuse(&bot.ctx, e))
}

#[derive(Debug, Deserialize)]
pub struct ResourceQuery {
    #[serde(rename = "type")]
    pub kind: Option<String>,
}

/// `GET /open-apis/im/v1/messages/:message_id/resources/:file_key?type=image|file`.
pub async fn get_resource(
    State(s): State<LarkState>,
    FileBot(bot): FileBot<ReadHistory>,
    Path((message, key)): Path<(String, String)>,
    LarkQuery(q): LarkQuery<ResourceQuery>,
) -> Result<Response, LarkError> {
    let ctx = &bot.ctx;
    let id = ids::parse_message_id(&message).ok_or_else(|| invalid(ctx, "invalid message_id"))?;
    // `type` says which the key is; audio and video are files. Required, as documented.
    match q.kind.as_deref() {
        Some("image" | "file") => {}
        Some(_) => return Err(invalid(ctx, "type must be image or file")),
        None => return Err(invalid(ctx, "type is required")),
    }
    let (f, bytes) = s
        .core
        .download_from_message(bot.app.tenant, bot.access(), id, &key)
        .await
        .map_err(|e| refuse(ctx, e))?;
    Ok(download(&f, bytes))
}

/// The bytes, typed and named. The name goes out as UTF-8 bytes inside the quotes (what
/// lark-oapi decodes: it reads the header as Latin-1 and re-decodes it as UTF-8), with
/// `"` and `\` escaped.
fn download(f: &StoredFile, bytes: Vec<u8>) -> Response {
    let disposition = HeaderValue::from_bytes(f.disposition().as_bytes())
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    let mime = HeaderValue::from_str(&f.mime)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"));
    (
        [
            (header::CONTENT_TYPE, mime),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        bytes,
    )
        .into_response()
}
