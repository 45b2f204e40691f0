//! Files and images: upload, metadata, and downloads with their access rules.
//!
//! - An upload is checked (empty, over its kind's limit, an image in no accepted format,
//!   a name with a NUL or a control character) before anything is written; the bytes are
//!   hashed and the file gets a fresh key.
//! - Whoever uploaded a file may download it by key ([`Core::download_own`]).
//! - Anyone else reaches a file only through a message ([`Core::download_from_message`]):
//!   they must be able to read the message (a member of its chat, as `Core::get` checks)
//!   and the message's content must reference the key.
//! - Another tenant's key reads as absent on every path.

use super::*;
use crate::error::{Conflict, Error};
use crate::files::*;
use crate::ids::{MessageId, TenantId};
use sha2::{Digest, Sha256};

/// The longest file name an upload may carry, in characters.
pub const MAX_FILE_NAME_CHARS: usize = 255;

impl Core {
    /// The upload limits in force.
    pub fn file_limits(&self) -> FileLimits {
        self.config.files
    }

    /// Stores an upload by `uploader` and returns its metadata (with its new key).
    pub async fn upload_file(
        &self,
        tenant: TenantId,
        uploader: Actor,
        up: Upload,
    ) -> Result<StoredFile, FileError> {
        let limit = self.config.files.max_for(up.kind);
        if up.bytes.is_empty() {
            return Err(FileError::Empty);
        }
        if up.bytes.len() > limit {
            return Err(FileError::TooLarge { limit });
        }
        check_name(&up.name)?;
        crate::input::check_text("purpose", &up.purpose)?;
        let mime = match up.kind {
            FileKind::Image => sniff_image(&up.bytes)
                .ok_or(FileError::NotAnImage)?
                .to_string(),
            FileKind::File => up
                .mime
                .filter(|m| valid_mime(m))
                .unwrap_or_else(|| mime_of_name(&up.name).to_string()),
        };
        let file = StoredFile {
            key: FileKey::generate(up.kind),
            tenant,
            kind: up.kind,
            name: up.name,
            mime,
            purpose: up.purpose,
            size: up.bytes.len() as i64,
            sha256: hex::encode(Sha256::digest(&up.bytes)),
            uploader,
            created_at: self.now_ms(),
        };
        self.store.put_file(file.clone(), up.bytes).await?;
        Ok(file)
    }

    /// The metadata of `key` in `tenant`, for whoever may name it (no bytes).
    pub async fn file_info(
        &self,
        tenant: TenantId,
        key: &FileKey,
    ) -> Result<StoredFile, FileError> {
        self.store
            .get_file(tenant, key)
            .await?
            .ok_or(FileError::NotFound)
    }

    /// The tenant's files, newest first (the operator's view; at most [`MAX_PAGE`]).
    pub async fn list_files(
        &self,
        tenant: TenantId,
        limit: u32,
    ) -> Result<Vec<StoredFile>, FileError> {
        Ok(self
            .store
            .list_files(tenant, limit.clamp(1, MAX_PAGE))
            .await?)
    }

    /// A file by key, for its uploader only.
    pub async fn download_own(
        &self,
        tenant: TenantId,
        caller: Actor,
        key: &FileKey,
    ) -> Result<(StoredFile, Vec<u8>), FileError> {
        let (file, bytes) = self
            .store
            .read_file(tenant, key)
            .await?
            .ok_or(FileError::NotFound)?;
        if file.uploader != caller {
            return Err(FileError::NotUploader);
        }
        Ok((file, bytes))
    }

    /// A file through the message that references it: `access` must be able to read the
    /// message (checked as `Core::get` does: tenant, then membership), the message must
    /// not be recalled or deleted, and its content must name `key`.
    pub async fn download_from_message(
        &self,
        tenant: TenantId,
        access: Access,
        message: MessageId,
        key: &str,
    ) -> Result<(StoredFile, Vec<u8>), FileError> {
        let view = self.get(tenant, access, None, message).await?;
        let m = &view.message;
        if let Some(r) = &m.removal {
            return Err(Error::Conflict(Conflict::MessageRemoved(r.kind)).into());
        }
        if !referenced_keys(m.kind, &m.content.data.to_value())
            .iter()
            .any(|k| k == key)
        {
            return Err(FileError::NotInMessage);
        }
        // A key the message names but that was never stored here (a vendor's own key
        // carried through) is simply not found.
        let key = FileKey::parse(key).ok_or(FileError::NotFound)?;
        self.store
            .read_file(tenant, &key)
            .await?
            .ok_or(FileError::NotFound)
    }
}

impl Core {
    /// `content` of a media message whose key names a file stored in `tenant`, with the
    /// file's name, MIME type and size where the content leaves them out, so that every
    /// API renders them (WPS `name`/`type`/`size`, Yunxin `name`/`ext`/`size`). Any other
    /// content is returned as it is; so is content naming a key not stored here.
    pub(crate) async fn describe_files(
        &self,
        tenant: TenantId,
        kind: MessageType,
        mut content: Content,
    ) -> crate::error::Result<Content> {
        use crate::content::MediaData;
        if !matches!(
            kind,
            MessageType::Image
                | MessageType::File
                | MessageType::Audio
                | MessageType::Video
                | MessageType::Sticker
        ) {
            return Ok(content);
        }
        let Ok(mut m) = content.data.parse::<MediaData>() else {
            return Ok(content);
        };
        // Nothing left to fill: no read.
        if !m.name.is_empty() && !m.format.is_empty() && m.size.is_some() {
            return Ok(content);
        }
        let Some(key) = FileKey::parse(&m.key) else {
            return Ok(content);
        };
        let Some(f) = self.store.get_file(tenant, &key).await? else {
            return Ok(content);
        };
        if m.name.is_empty() {
            m.name = f.name;
        }
        if m.format.is_empty() {
            m.format = f.mime;
        }
        m.size = m.size.or(Some(f.size));
        let data = serde_json::to_value(m).map_err(|e| Error::invalid("content", e.to_string()))?;
        content.text =
            crate::content::validate(kind, &data).map_err(|r| Error::invalid("content", r))?;
        content.data = data.into();
        Ok(content)
    }
}

fn check_name(name: &str) -> Result<(), Error> {
    if name.chars().any(char::is_control) {
        return Err(Error::invalid(
            "file_name",
            "must not contain control characters",
        ));
    }
    if name.chars().count() > MAX_FILE_NAME_CHARS {
        return Err(Error::invalid(
            "file_name",
            format!("must be at most {MAX_FILE_NAME_CHARS} characters"),
        ));
    }
    Ok(())
}

/// `type/subtype` of printable ASCII without spaces: what a `Content-Type` header can carry.
fn valid_mime(m: &str) -> bool {
    m.len() <= 127
        && m.split_once('/')
            .is_some_and(|(a, b)| !a.is_empty() && !b.is_empty())
        && m.bytes().all(|c| c.is_ascii_graphic())
}
