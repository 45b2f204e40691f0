//! The copy's body and wire, pure: what [`super::YunxinEvents`] renders from looked-up data.
//!
//! A copy is flat JSON whose every value is a string, keys in camelCase and in sorted order
//! (as the vendor's example is), compact (`serde_json`): spec `events.md` §3.2.
//!
//! The request carries `AppKey`, `CurTime` (Unix **milliseconds**), `MD5` (lowercase hex
//! MD5 of the body bytes) and `CheckSum` = lowercase hex SHA-1(AppSecret + MD5 + CurTime),
//! in exactly that casing.

use crate::render::MessageData;
use serde_json::Value;
use std::collections::BTreeMap;
use switchboard_core::events::route::Outgoing;
use switchboard_core::model::{ChatKind, Millis, RemovalKind};

/// A copy's fields: every value a string; serialised in key order.
pub type Fields = BTreeMap<&'static str, String>;

/// `Content-Type` of every copy (spec §3.2 and §5: `application/json`).
pub const CONTENT_TYPE: &str = "application/json";

/// The header names, in the exact casing sent.
pub const H_CONTENT_TYPE: &str = "Content-Type";
pub const H_APP_KEY: &str = "AppKey";
pub const H_CUR_TIME: &str = "CurTime";
pub const H_MD5: &str = "MD5";
pub const H_CHECK_SUM: &str = "CheckSum";

/// `eventType` of conversation messages (p2p, team, super team), team notifications
/// included (spec §3.2, (confirmed)).
pub const EVENT_MESSAGE: &str = "1";
/// `eventType` of a p2p message's recall or delete (our reading of the vendor's list; the
/// v1 recall API numbers a p2p recall 7 as well) (our inference).
pub const EVENT_RECALL_P2P: &str = "7";
/// `eventType` of a team (advanced or super) message's recall or delete (our inference).
pub const EVENT_RECALL_TEAM: &str = "8";
/// `eventType` of the URL check sent when a subscription is saved (ours: Yunxin has none).
pub const EVENT_PROBE: &str = "0";

/// `convType` of a chat.
pub fn conv_type(kind: ChatKind) -> &'static str {
    match kind {
        ChatKind::P2p => "PERSON",
        ChatKind::Group => "TEAM",
        ChatKind::SuperGroup => "SUPER_TEAM",
    }
}

/// `msgType` of a v2 `message_type` number (the classic names the copies use).
pub fn msg_type(n: i64) -> &'static str {
    match n {
        0 => "TEXT",
        1 => "PICTURE",
        2 => "AUDIO",
        3 => "VIDEO",
        4 => "LOCATION",
        5 => "NOTIFICATION",
        6 => "FILE",
        10 => "TIPS",
        11 => "ROBOT",
        _ => "CUSTOM",
    }
}

/// `fromClientType` of a v2 `sender_client_type`; a message with none came through a
/// server API (another dialect's), so `REST`.
pub fn client_type(n: Option<i64>) -> &'static str {
    match n {
        Some(1) => "AOS",
        Some(2) => "IOS",
        Some(4) => "PC",
        Some(16) => "WEB",
        Some(64) => "MAC",
        _ => "REST",
    }
}

/// `recallType`: the v2 withdraw API's `type` (1 one-way, 2 two-way, 3 delete).
pub fn recall_type(kind: RemovalKind) -> &'static str {
    match kind {
        RemovalKind::RecalledOneWay => "1",
        RemovalKind::Recalled => "2",
        RemovalKind::Deleted => "3",
    }
}

/// A JSON value as a copy's string: a string as is, anything else compact JSON, nothing "".
/// An attachment (always an object) as its JSON text.
fn json_string(v: Option<&switchboard_core::json::Json>) -> String {
    v.map(|j| j.as_str().to_string()).unwrap_or_default()
}

/// A message's copy (`eventType` 1) from the query API's rendering of it, so ids, accounts
/// and content are exactly what the Yunxin APIs show: `msgidServer` = `message_server_id`,
/// `fromAccount` = `sender_id`, `to` = `receiver_id` (p2p) or `team_id`, `msgType` from
/// `message_type`, `body` = `text`, `attach` = `attachment` as a JSON string, `ext` =
/// `extension` (only when the message has one).
pub fn message_copy(data: &MessageData, kind: ChatKind, from_nick: &str) -> Fields {
    let mut f = Fields::new();
    f.insert("eventType", EVENT_MESSAGE.into());
    f.insert("convType", conv_type(kind).into());
    f.insert("to", to_of(data));
    f.insert("fromAccount", data.sender_id.clone());
    f.insert("fromNick", from_nick.into());
    f.insert(
        "fromClientType",
        client_type(data.sender_client_type).into(),
    );
    f.insert("fromDeviceId", String::new());
    f.insert("msgType", msg_type(data.message_type).into());
    f.insert("body", data.text.clone().unwrap_or_default());
    f.insert("attach", json_string(data.attachment.as_ref()));
    f.insert("msgidServer", data.message_server_id.to_string());
    f.insert(
        "msgidClient",
        data.message_client_id.clone().unwrap_or_default(),
    );
    f.insert("msgTimestamp", data.create_time.to_string());
    f.insert("resendFlag", "0".into());
    if let Some(ext) = &data.extension {
        f.insert("ext", ext.clone());
    }
    f
}

/// `to` as the query API names the other side: the receiver's account or the team id.
pub fn to_of(data: &MessageData) -> String {
    match (&data.receiver_id, data.team_id) {
        (_, Some(t)) => t.to_string(),
        (Some(r), None) => r.clone(),
        (None, None) => String::new(),
    }
}

/// What a recall copy says about the removal.
pub struct RecallInfo<'a> {
    pub kind: ChatKind,
    /// The removed message's `to` ([`to_of`]).
    pub to: String,
    /// Who removed it: account and nick.
    pub operator: &'a str,
    pub operator_nick: &'a str,
    pub msgid_server: i64,
    pub msgid_client: Option<&'a str>,
    /// When the removed message was sent.
    pub sent_at: Millis,
    pub removal: RemovalKind,
    pub removed_at: Millis,
}

/// A recall or delete copy (`eventType` 7 for p2p, 8 for teams): `msgidServer`,
/// `msgidClient` and `msgTimestamp` name the removed message; `fromAccount` is who removed
/// it; `recallType` is the withdraw API's type; `timestamp` when it was removed.
pub fn recall_copy(r: &RecallInfo) -> Fields {
    let mut f = Fields::new();
    let event = match r.kind {
        ChatKind::P2p => EVENT_RECALL_P2P,
        ChatKind::Group | ChatKind::SuperGroup => EVENT_RECALL_TEAM,
    };
    f.insert("eventType", event.into());
    f.insert("convType", conv_type(r.kind).into());
    f.insert("to", r.to.clone());
    f.insert("fromAccount", r.operator.into());
    f.insert("fromNick", r.operator_nick.into());
    f.insert("msgidServer", r.msgid_server.to_string());
    f.insert("msgidClient", r.msgid_client.unwrap_or_default().into());
    f.insert("msgTimestamp", r.sent_at.to_string());
    f.insert("recallType", recall_type(r.removal).into());
    f.insert("timestamp", r.removed_at.to_string());
    f
}

/// A team notification's operation (`attach.id`), as the vendor's SDKs number them:
/// advanced teams 0 invite, 1 kick, 2 leave, 4 dismiss; super teams 401, 402, 403, 405 (our inference).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TeamOp {
    Invite,
    Kick,
    Leave,
    Dismiss,
}

impl TeamOp {
    pub fn id(self, kind: ChatKind) -> i64 {
        let base = match self {
            TeamOp::Invite => 0,
            TeamOp::Kick => 1,
            TeamOp::Leave => 2,
            TeamOp::Dismiss => 4,
        };
        if kind == ChatKind::SuperGroup {
            401 + base
        } else {
            base
        }
    }
}

/// A team change as a notification message's copy (`eventType` 1, `msgType`
/// `NOTIFICATION`), as the vendor copies its team notifications.
pub struct TeamNotice<'a> {
    pub kind: ChatKind,
    pub team_id: i64,
    pub op: TeamOp,
    /// The operator's account and nick (the team's owner when the tenant's operator did it).
    pub operator: &'a str,
    pub operator_nick: &'a str,
    /// The accounts that came or went (empty for a dismiss).
    pub accounts: Vec<String>,
    /// Ours: the change's sequence number (stable on every attempt; below 2^32 for the
    /// first four billion changes, where message ids are at least 2^32).
    pub msgid_server: i64,
    pub at: Millis,
}

/// The notification copy; `attach` is `{"data":{"ids":[…],"tid":"…"},"id":N}` (our inference).
pub fn team_notice(n: &TeamNotice) -> Fields {
    let mut data = serde_json::Map::new();
    data.insert("tid".into(), Value::String(n.team_id.to_string()));
    if n.op != TeamOp::Dismiss {
        data.insert(
            "ids".into(),
            Value::Array(n.accounts.iter().cloned().map(Value::String).collect()),
        );
    }
    let attach = serde_json::json!({ "data": data, "id": n.op.id(n.kind) });
    let mut f = Fields::new();
    f.insert("eventType", EVENT_MESSAGE.into());
    f.insert("convType", conv_type(n.kind).into());
    f.insert("to", n.team_id.to_string());
    f.insert("fromAccount", n.operator.into());
    f.insert("fromNick", n.operator_nick.into());
    f.insert("fromClientType", "REST".into());
    f.insert("fromDeviceId", String::new());
    f.insert("msgType", "NOTIFICATION".into());
    f.insert("body", String::new());
    f.insert("attach", attach.to_string());
    f.insert("msgidServer", n.msgid_server.to_string());
    f.insert("msgidClient", String::new());
    f.insert("msgTimestamp", n.at.to_string());
    f.insert("resendFlag", "0".into());
    f
}

/// The compact JSON of `f`, keys sorted.
pub fn encode(f: &Fields) -> Vec<u8> {
    serde_json::to_vec(f).expect("a map of strings always serialises")
}

/// The URL check's body: `{"challenge":"…","eventType":"0"}`.
pub fn probe(challenge: &str) -> Vec<u8> {
    let mut f = Fields::new();
    f.insert("challenge", challenge.into());
    f.insert("eventType", EVENT_PROBE.into());
    encode(&f)
}

/// Lowercase hex MD5 of the body bytes (the `MD5` header).
pub fn md5_hex(body: &[u8]) -> String {
    use md5::{Digest, Md5};
    hex::encode(Md5::digest(body))
}

/// `CheckSum` = lowercase hex SHA-1(AppSecret + MD5 + CurTime).
pub fn checksum(app_secret: &str, md5: &str, cur_time: &str) -> String {
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(app_secret.as_bytes());
    h.update(md5.as_bytes());
    h.update(cur_time.as_bytes());
    hex::encode(h.finalize())
}

/// The request for `body`, signed with the app's key and secret at `now` (ms).
pub fn request(app_key: &str, app_secret: &str, body: Vec<u8>, now: Millis) -> Outgoing {
    let cur_time = now.to_string();
    let md5 = md5_hex(&body);
    let sum = checksum(app_secret, &md5, &cur_time);
    Outgoing {
        headers: vec![
            (H_CONTENT_TYPE.into(), CONTENT_TYPE.into()),
            (H_APP_KEY.into(), app_key.into()),
            (H_CUR_TIME.into(), cur_time),
            (H_MD5.into(), md5),
            (H_CHECK_SUM.into(), sum),
        ],
        body,
    }
}
