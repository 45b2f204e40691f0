//! The `Value`-tree renderer: the content types the typed serialisers (`outgoing`) do not
//! write (audio, video, cloud files, merge-forwards, votes and the types WPS has no form
//! for), each in one place.

use super::{put_int, put_str};
use crate::ids;
use serde_json::{json, Map, Value};
use switchboard_core::content::{MediaData, MergeForwardData, OpaqueData};
use switchboard_core::ids::MessageId;
use switchboard_core::model::{Content, MessageType};

/// [`outgoing`](fn@super::outgoing) for content that did not come in through WPS.
pub(super) fn from_canonical(kind: MessageType, c: &Content, ctime: i64) -> (&'static str, Value) {
    let fallback_text = |text: &str| {
        (
            "text",
            json!({ "text": { "content": text, "type": "plain" } }),
        )
    };
    match kind {
        // The typed serialisers (`outgoing`) write these; they reach here only when the
        // stored data is not of their shape, and show the plain rendition.
        MessageType::Text
        | MessageType::RichText
        | MessageType::Image
        | MessageType::Sticker
        | MessageType::Location
        | MessageType::Card => fallback_text(&c.text),
        // Only a file known by its URL alone reaches here: a cloud file.
        MessageType::File => {
            let m = c.data.parse::<MediaData>().unwrap_or_default();
            (
                "file",
                json!({ "file": { "type": "cloud", "cloud": { "id": "", "link_url": m.url, "link_id": "" } } }),
            )
        }
        MessageType::Audio | MessageType::Video => {
            let m = c.data.parse::<MediaData>().unwrap_or_default();
            let mut media = Map::new();
            put_str(&mut media, "format", m.format.clone());
            put_int(&mut media, "size", m.size);
            put_int(
                &mut media,
                "duration",
                m.duration_ms.map(|ms| (ms + 999) / 1000),
            );
            for k in ["codec", "channels", "sample_bits", "sample_rate"] {
                if let Some(v) = m.extra.get(k) {
                    media.insert(k.into(), v.clone());
                }
            }
            if kind == MessageType::Video {
                put_int(&mut media, "width", m.width);
                put_int(&mut media, "height", m.height);
                put_str(&mut media, "cover_storage_key", m.cover_key.clone());
            }
            let name = kind.as_str();
            (
                if kind == MessageType::Audio {
                    "audio"
                } else {
                    "video"
                },
                json!({ name: { "storage_key": m.key, "media": media } }),
            )
        }
        MessageType::MergeForward => {
            let mf = c.data.parse::<MergeForwardData>().unwrap_or_default();
            let ids: Vec<String> = mf
                .source_ids
                .iter()
                .filter_map(|raw| MessageId::from_raw(*raw))
                .map(ids::message_id)
                .collect();
            (
                "merge_forward",
                json!({ "merge_forward": { "title": mf.title, "start_time": ctime, "end_time": ctime, "msg_id_list": ids, "msg_previews": [] } }),
            )
        }
        MessageType::Vote | MessageType::Calendar | MessageType::Meeting => {
            let o = c.data.parse::<OpaqueData>().unwrap_or_default();
            let body = if o.json.is_object() {
                o.json
            } else {
                json!({})
            };
            (kind.as_str(), json!({ kind.as_str(): body }))
        }
        // No WPS type exists for these: their plain rendition is shown as text.
        MessageType::ShareChat
        | MessageType::ShareUser
        | MessageType::Notification
        | MessageType::Tip
        | MessageType::Robot
        | MessageType::Custom
        | MessageType::System => fallback_text(&c.text),
    }
}
