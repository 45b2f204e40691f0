//! Stored files and images: what a bot uploads once and every API serves.
//!
//! - [`FileKey`]: a stored file's name, `img_v3_` or `file_v3_` and 32 lowercase hex
//!   digits (128 random bits). Plain ASCII with no separator any API reserves, so a Feishu
//!   `image_key`/`file_key`, a WPS `storage_key` and a path segment of a Yunxin `url` all
//!   carry it unchanged. Its prefix says its [`FileKind`].
//! - [`StoredFile`]: the metadata row; the bytes are stored beside it (`FileStore`).
//! - [`FileLimits`]: the size limits an upload is checked against before anything is
//!   written; [`sniff_image`]: the image formats an image upload must be.
//! - [`referenced_keys`]: the storage keys a message's canonical content names, which are
//!   the only keys a download through that message may ask for.
//! - [`FileError`]: why an upload or a download is refused.

use crate::content::{MediaData, Node, RichTextData};
use crate::error::Error;
use crate::ids::TenantId;
use crate::model::{Actor, MessageType, Millis};
use serde::Deserialize;
use serde_json::Value;
use std::fmt;

/// An image (shown inline) or any other file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Image,
    File,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FileKind::Image => "image",
            FileKind::File => "file",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "image" => Some(FileKind::Image),
            "file" => Some(FileKind::File),
            _ => None,
        }
    }

    /// What every key of this kind starts with.
    pub fn key_prefix(self) -> &'static str {
        match self {
            FileKind::Image => "img_v3_",
            FileKind::File => "file_v3_",
        }
    }
}

/// A stored file's key: its kind's prefix and 32 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FileKey(String);

const KEY_HEX: usize = 32;

impl FileKey {
    /// A fresh key of `kind` (128 random bits: keys are not guessable, though access is
    /// checked on every download all the same).
    pub fn generate(kind: FileKind) -> Self {
        let bits: [u8; KEY_HEX / 2] = rand::random();
        FileKey(format!("{}{}", kind.key_prefix(), hex::encode(bits)))
    }

    /// The key `s` names, if it has the form of one.
    pub fn parse(s: &str) -> Option<Self> {
        let kind = Self::kind_of(s)?;
        let hex = &s[kind.key_prefix().len()..];
        (hex.len() == KEY_HEX && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| FileKey(s.to_string()))
    }

    fn kind_of(s: &str) -> Option<FileKind> {
        [FileKind::Image, FileKind::File]
            .into_iter()
            .find(|k| s.starts_with(k.key_prefix()))
    }

    pub fn kind(&self) -> FileKind {
        Self::kind_of(&self.0).expect("a parsed key has a kind prefix")
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for FileKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored file's metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub key: FileKey,
    pub tenant: TenantId,
    pub kind: FileKind,
    /// The name it was uploaded under (may be empty for an image).
    pub name: String,
    /// Its MIME type: sniffed for an image, else as declared (or derived from the name).
    pub mime: String,
    /// What the uploader declared it for, in the uploading API's words (Feishu's
    /// `image_type` `message`/`avatar`, its `file_type` `pdf`, `opus` …); opaque here.
    pub purpose: String,
    /// Its length in bytes.
    pub size: i64,
    /// Lowercase hex SHA-256 of its bytes.
    pub sha256: String,
    pub uploader: Actor,
    pub created_at: Millis,
}

impl StoredFile {
    /// The name a download offers: the uploaded name, or the key with the type's extension.
    pub fn download_name(&self) -> String {
        if self.name.is_empty() {
            let ext = self.mime.rsplit('/').next().unwrap_or("bin");
            format!("{}.{ext}", self.key)
        } else {
            self.name.clone()
        }
    }

    /// A `Content-Disposition` value for a download (RFC 6266): `filename` with the name as
    /// sent (the form Python clients read), and `filename*` percent-encoded UTF-8 (RFC 5987,
    /// the form other clients read without guessing the charset).
    pub fn disposition(&self) -> String {
        use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
        let name = self.download_name();
        let quoted = name.replace('\\', "\\\\").replace('"', "\\\"");
        let encoded = utf8_percent_encode(&name, NON_ALPHANUMERIC);
        format!("attachment; filename=\"{quoted}\"; filename*=UTF-8''{encoded}")
    }
}

/// What an upload carries.
#[derive(Debug, Clone)]
pub struct Upload {
    pub kind: FileKind,
    pub name: String,
    /// The MIME type the client declared, if any (an image's is sniffed instead).
    pub mime: Option<String>,
    pub purpose: String,
    pub bytes: Vec<u8>,
}

/// Upload size limits (`[files]` in the configuration).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileLimits {
    pub max_image_bytes: usize,
    pub max_file_bytes: usize,
}

impl Default for FileLimits {
    fn default() -> Self {
        FileLimits {
            max_image_bytes: 10 << 20,
            max_file_bytes: 30 << 20,
        }
    }
}

impl FileLimits {
    pub fn max_for(&self, kind: FileKind) -> usize {
        match kind {
            FileKind::Image => self.max_image_bytes,
            FileKind::File => self.max_file_bytes,
        }
    }

    /// The largest upload of any kind (what a request body may need to hold).
    pub fn max_any(&self) -> usize {
        self.max_image_bytes.max(self.max_file_bytes)
    }
}

/// Why an upload or download is refused. Kept apart from the catalogue ([`Error`]) because
/// only the file APIs meet these reasons; a rule shared with messages (tenancy,
/// membership, a removed message) arrives as [`FileError::Core`].
#[derive(Debug, Clone, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty")]
    Empty,
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("the image is not in a supported format")]
    NotAnImage,
    /// No such file in the caller's tenant (another tenant's key reads the same).
    #[error("file not found")]
    NotFound,
    /// The caller did not upload it (only an uploader may download by key).
    #[error("the caller did not upload this file")]
    NotUploader,
    /// The message's content does not reference the key.
    #[error("the message does not reference this file")]
    NotInMessage,
    #[error(transparent)]
    Core(#[from] Error),
}

impl From<crate::store::StoreError> for FileError {
    fn from(e: crate::store::StoreError) -> Self {
        FileError::Core(e.into())
    }
}

/// The MIME type of an image in a format uploads accept, by its leading bytes: JPEG, PNG,
/// GIF, WEBP, BMP, TIFF, ICO and HEIC (the formats Feishu accepts). `None` for anything
/// else, whatever its declared type.
pub fn sniff_image(b: &[u8]) -> Option<&'static str> {
    let starts = |p: &[u8]| b.starts_with(p);
    if starts(&[0xFF, 0xD8, 0xFF]) {
        Some("image/jpeg")
    } else if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if b.len() >= 12 && &b[..4] == b"RIFF" && &b[8..12] == b"WEBP" {
        Some("image/webp")
    } else if starts(b"BM") && b.len() >= 14 {
        Some("image/bmp")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("image/tiff")
    } else if starts(&[0, 0, 1, 0]) && b.len() >= 6 {
        Some("image/x-icon")
    } else if b.len() >= 12
        && &b[4..8] == b"ftyp"
        && matches!(&b[8..12], b"heic" | b"heix" | b"mif1" | b"msf1")
    {
        Some("image/heic")
    } else {
        None
    }
}

/// A MIME type for a file by its name's extension (what a download's `Content-Type` says
/// when the uploader declared none).
pub fn mime_of_name(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "pdf" => "application/pdf",
        "doc" => "application/msword",
        "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "xls" => "application/vnd.ms-excel",
        "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "ppt" => "application/vnd.ms-powerpoint",
        "pptx" => "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "mp4" => "video/mp4",
        "opus" => "audio/opus",
        "txt" => "text/plain",
        "json" => "application/json",
        "zip" => "application/zip",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        _ => "application/octet-stream",
    }
}

/// The storage keys a message of `kind` with canonical `data` names: a media message's
/// key and cover (thumbnail) key, a rich text's inline images. Empty keys are left out.
pub fn referenced_keys(kind: MessageType, data: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match kind {
        MessageType::Image
        | MessageType::File
        | MessageType::Audio
        | MessageType::Video
        | MessageType::Sticker => {
            if let Ok(m) = MediaData::deserialize(data) {
                out.push(m.key);
                out.push(m.cover_key);
            }
        }
        MessageType::RichText => {
            if let Ok(r) = RichTextData::deserialize(data) {
                for p in r.paragraphs {
                    for n in p {
                        if let Node::Img { key } = n {
                            out.push(key);
                        }
                    }
                }
            }
        }
        _ => {}
    }
    out.retain(|k| !k.is_empty());
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_round_trip_and_carry_their_kind() {
        for kind in [FileKind::Image, FileKind::File] {
            let k = FileKey::generate(kind);
            assert!(k.as_str().starts_with(kind.key_prefix()));
            assert_eq!(FileKey::parse(k.as_str()), Some(k.clone()));
            assert_eq!(k.kind(), kind);
            assert_ne!(FileKey::generate(kind), k);
        }
        for bad in [
            "",
            "img_v3_",
            "img_v3_0123",
            "img_v3_0123456789ABCDEF0123456789abcdef",
            "img_v2_0123456789abcdef0123456789abcdef",
            "img_v3_0123456789abcdef0123456789abcdef0",
            "file_v3_0123456789abcdef0123456789abcde/",
        ] {
            assert_eq!(FileKey::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn images_are_sniffed_by_their_leading_bytes() {
        assert_eq!(sniff_image(b"\x89PNG\r\n\x1a\nrest"), Some("image/png"));
        assert_eq!(sniff_image(&[0xFF, 0xD8, 0xFF, 0xE0]), Some("image/jpeg"));
        assert_eq!(sniff_image(b"GIF89a...."), Some("image/gif"));
        assert_eq!(sniff_image(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
        assert_eq!(sniff_image(b"%PDF-1.7"), None);
        assert_eq!(sniff_image(b""), None);
        assert_eq!(sniff_image(b"\x89PN"), None);
    }

    #[test]
    fn referenced_keys_of_each_family() {
        assert_eq!(
            referenced_keys(MessageType::Image, &json!({"key": "img_a"})),
            ["img_a"]
        );
        assert_eq!(
            referenced_keys(
                MessageType::Video,
                &json!({"key": "file_v", "cover_key": "img_c"})
            ),
            ["file_v", "img_c"]
        );
        let rt = json!({"paragraphs": [[{"tag": "text", "text": "a"}], [{"tag": "img", "key": "img_p"}]]});
        assert_eq!(referenced_keys(MessageType::RichText, &rt), ["img_p"]);
        assert!(referenced_keys(MessageType::Text, &json!({"text": "img_a"})).is_empty());
        assert!(referenced_keys(MessageType::File, &json!({"url": "http://x"})).is_empty());
    }

    #[test]
    fn limits_default_to_ten_and_thirty_mib() {
        let l = FileLimits::default();
        assert_eq!(l.max_for(FileKind::Image), 10 * 1024 * 1024);
        assert_eq!(l.max_for(FileKind::File), 30 * 1024 * 1024);
        assert_eq!(l.max_any(), 30 * 1024 * 1024);
        assert_eq!(mime_of_name("Report.PDF"), "application/pdf");
        assert_eq!(mime_of_name("noext"), "application/octet-stream");
    }
}
