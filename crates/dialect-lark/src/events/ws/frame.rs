//! The long connection's wire: `pbbp2.Frame`, one protobuf (proto2) message per binary
//! WebSocket message (spec §1.11).
//!
//! Hand-written `prost` structs rather than generated ones: the schema is nine fields, and
//! a build script with `protoc` would be the only one in the workspace. The four `required`
//! fields are declared `required`, so prost writes them even when they are 0 (the official
//! clients' protobuf runtimes are proto2 and may refuse a frame without them).

use serde::Serialize;

/// `pbbp2.Header`.
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Header {
    #[prost(string, required, tag = "1")]
    pub key: String,
    #[prost(string, required, tag = "2")]
    pub value: String,
}

/// `pbbp2.Frame`. Field names follow the `.proto` (`SeqID`, `LogID`, `LogIDNew`).
#[derive(Clone, PartialEq, Eq, prost::Message)]
pub struct Frame {
    #[prost(uint64, required, tag = "1")]
    pub seq_id: u64,
    #[prost(uint64, required, tag = "2")]
    pub log_id: u64,
    /// The connection's `service_id` (from its URL), echoed in every frame.
    #[prost(int32, required, tag = "3")]
    pub service: i32,
    /// [`METHOD_CONTROL`] or [`METHOD_DATA`].
    #[prost(int32, required, tag = "4")]
    pub method: i32,
    #[prost(message, repeated, tag = "5")]
    pub headers: Vec<Header>,
    #[prost(string, optional, tag = "6")]
    pub payload_encoding: Option<String>,
    #[prost(string, optional, tag = "7")]
    pub payload_type: Option<String>,
    #[prost(bytes = "vec", optional, tag = "8")]
    pub payload: Option<Vec<u8>>,
    #[prost(string, optional, tag = "9")]
    pub log_id_new: Option<String>,
}

/// `method` of a control frame (ping, pong).
pub const METHOD_CONTROL: i32 = 0;
/// `method` of a data frame (an event, and the client's ack of it).
pub const METHOD_DATA: i32 = 1;

pub const HEADER_TYPE: &str = "type";
pub const HEADER_MESSAGE_ID: &str = "message_id";
pub const HEADER_SUM: &str = "sum";
pub const HEADER_SEQ: &str = "seq";
pub const HEADER_TRACE_ID: &str = "trace_id";

pub const TYPE_EVENT: &str = "event";
pub const TYPE_PING: &str = "ping";
pub const TYPE_PONG: &str = "pong";

impl Frame {
    /// The value of header `key`, if present.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|h| h.key == key)
            .map(|h| h.value.as_str())
    }

    pub fn encode(&self) -> Vec<u8> {
        prost::Message::encode_to_vec(self)
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, prost::DecodeError> {
        prost::Message::decode(bytes)
    }
}

fn header(key: &str, value: impl Into<String>) -> Header {
    Header {
        key: key.into(),
        value: value.into(),
    }
}

/// The client settings (seconds), sent at discovery and in every pong. All four fields are
/// always sent: Python assigns them blindly (a missing one breaks its ping loop) and Go
/// pings in a tight loop on a zero `PingInterval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ClientConfig {
    pub reconnect_count: i64,
    pub reconnect_interval: u64,
    pub reconnect_nonce: u64,
    pub ping_interval: u64,
}

impl ClientConfig {
    /// The vendor's values (reconnect forever, every 120 s after up to 30 s of jitter), with
    /// our ping interval.
    pub fn with_ping(ping_interval: u64) -> ClientConfig {
        ClientConfig {
            reconnect_count: -1,
            reconnect_interval: 120,
            reconnect_nonce: 30,
            ping_interval,
        }
    }
}

/// What the frames of one event share.
#[derive(Debug, Clone, Copy)]
pub struct EventIds<'a> {
    /// The connection's `service_id`.
    pub service: i32,
    /// The event id: the `message_id` the ack names.
    pub message_id: &'a str,
    pub trace_id: &'a str,
    /// `SeqID` of the first fragment; the next fragments count up from it.
    pub first_seq: u64,
    pub log_id: u64,
}

/// The data frames carrying `payload`: one when it fits in `fragment` bytes, else one per
/// `fragment`-byte piece, all with the same `message_id`, `sum` = their count and `seq` =
/// their 0-based index (the clients reassemble them by `message_id`). Every frame carries
/// all five headers: Python raises on a missing one and then neither dispatches nor acks.
pub fn event_frames(ids: EventIds<'_>, payload: &[u8], fragment: usize) -> Vec<Frame> {
    let fragment = fragment.max(1);
    let pieces: Vec<&[u8]> = if payload.is_empty() {
        vec![payload]
    } else {
        payload.chunks(fragment).collect()
    };
    let sum = pieces.len();
    pieces
        .into_iter()
        .enumerate()
        .map(|(seq, piece)| Frame {
            seq_id: ids.first_seq + seq as u64,
            log_id: ids.log_id,
            service: ids.service,
            method: METHOD_DATA,
            headers: vec![
                header(HEADER_TYPE, TYPE_EVENT),
                header(HEADER_MESSAGE_ID, ids.message_id),
                header(HEADER_SUM, sum.to_string()),
                header(HEADER_SEQ, seq.to_string()),
                header(HEADER_TRACE_ID, ids.trace_id),
            ],
            payload_encoding: None,
            payload_type: None,
            payload: Some(piece.to_vec()),
            log_id_new: None,
        })
        .collect()
}

/// The answer to a client's ping: its ids echoed, `type=pong`, the client settings as the
/// payload (clients apply them).
pub fn pong(ping: &Frame, config: &ClientConfig) -> Frame {
    Frame {
        seq_id: ping.seq_id,
        log_id: ping.log_id,
        service: ping.service,
        method: METHOD_CONTROL,
        headers: vec![header(HEADER_TYPE, TYPE_PONG)],
        payload_encoding: None,
        payload_type: None,
        payload: Some(serde_json::to_vec(config).expect("plain numbers serialise")),
        log_id_new: None,
    }
}

/// What a frame from the client means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    Ping,
    /// The ack of event `message_id`: its payload's `code` (200 handled, 500 failed). A
    /// payload without a readable integer `code` counts as 500: the client answered, but
    /// not that it handled the event.
    Ack {
        message_id: String,
        code: i32,
    },
    /// Anything else (a pong, a frame type we do not know): ignored.
    Other,
}

/// Reads a client frame.
pub fn classify(f: &Frame) -> Inbound {
    match (f.method, f.header(HEADER_TYPE)) {
        (METHOD_CONTROL, Some(TYPE_PING)) => Inbound::Ping,
        (METHOD_DATA, _) => match f.header(HEADER_MESSAGE_ID) {
            Some(id) => Inbound::Ack {
                message_id: id.to_string(),
                code: ack_code(f.payload.as_deref().unwrap_or_default()),
            },
            None => Inbound::Other,
        },
        _ => Inbound::Other,
    }
}

/// The `code` of an ack payload: `{"code":200}` (Python), `{"code":200,"headers":null,
/// "data":null}` (Go), possibly with `data`.
fn ack_code(payload: &[u8]) -> i32 {
    serde_json::from_slice::<serde_json::Value>(payload)
        .ok()
        .and_then(|v| v.get("code").and_then(|c| c.as_i64()))
        .and_then(|c| i32::try_from(c).ok())
        .unwrap_or(500)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(message_id: &str) -> EventIds<'_> {
        EventIds {
            service: 7,
            message_id,
            trace_id: "t1",
            first_seq: 10,
            log_id: 99,
        }
    }

    #[test]
    fn round_trips() {
        let f = &event_frames(ids("e1"), br#"{"schema":"2.0"}"#, 1024)[0];
        let back = Frame::decode(&f.encode()).unwrap();
        assert_eq!(&back, f);
        assert_eq!(back.header(HEADER_TYPE), Some(TYPE_EVENT));
        assert_eq!(back.payload.as_deref(), Some(&br#"{"schema":"2.0"}"#[..]));
    }

    #[test]
    fn required_fields_are_written_even_when_zero() {
        let f = Frame {
            seq_id: 0,
            log_id: 0,
            service: 0,
            method: METHOD_CONTROL,
            headers: vec![header(HEADER_TYPE, TYPE_PING)],
            payload_encoding: None,
            payload_type: None,
            payload: None,
            log_id_new: None,
        };
        let bytes = f.encode();
        // Tags 1–4 as varints of value 0, in order, then the header (field 5, length 10).
        assert_eq!(&bytes[..8], &[0x08, 0, 0x10, 0, 0x18, 0, 0x20, 0]);
        assert_eq!(bytes[8], 0x2a);
        assert_eq!(Frame::decode(&bytes).unwrap(), f);
    }

    #[test]
    fn decodes_what_lark_oapi_writes() {
        // lark-oapi 1.x's ping (`_new_ping_frame(42)`): SeqID 0, LogID 0, service 42,
        // method 0, header type=ping, as its protobuf runtime serialises it.
        let ping = [
            0x08, 0x00, 0x10, 0x00, 0x18, 0x2a, 0x20, 0x00, 0x2a, 0x0c, 0x0a, 0x04, b't', b'y',
            b'p', b'e', 0x12, 0x04, b'p', b'i', b'n', b'g',
        ];
        let f = Frame::decode(&ping).unwrap();
        assert_eq!(f.service, 42);
        assert_eq!(classify(&f), Inbound::Ping);
        let p = pong(&f, &ClientConfig::with_ping(120));
        assert_eq!(p.service, 42);
        assert_eq!(p.method, METHOD_CONTROL);
        assert_eq!(p.header(HEADER_TYPE), Some(TYPE_PONG));
        assert_eq!(
            p.payload.as_deref(),
            Some(
                &br#"{"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30,"PingInterval":120}"#[..]
            )
        );
    }

    #[test]
    fn a_large_payload_is_split_and_reassembles() {
        let payload: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
        let frames = event_frames(ids("e2"), &payload, 300);
        assert_eq!(frames.len(), 4);
        let mut joined = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let f = Frame::decode(&f.encode()).unwrap();
            assert_eq!(f.header(HEADER_MESSAGE_ID), Some("e2"));
            assert_eq!(f.header(HEADER_SUM), Some("4"));
            assert_eq!(f.header(HEADER_SEQ), Some(i.to_string().as_str()));
            assert_eq!(f.header(HEADER_TRACE_ID), Some("t1"));
            assert_eq!(f.header(HEADER_TYPE), Some(TYPE_EVENT));
            assert_eq!(f.seq_id, 10 + i as u64);
            assert_eq!(f.method, METHOD_DATA);
            joined.extend_from_slice(f.payload.as_deref().unwrap());
        }
        assert_eq!(joined, payload);
        // Exactly at the limit: one frame, sum 1, seq 0.
        let one = event_frames(ids("e3"), &payload[..300], 300);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].header(HEADER_SUM), Some("1"));
        assert_eq!(one[0].header(HEADER_SEQ), Some("0"));
    }

    #[test]
    fn acks_are_read_by_message_id_and_code() {
        let mut ack = event_frames(ids("e4"), b"{}", 100).remove(0);
        ack.headers.push(header("biz_rt", "3"));
        ack.payload = Some(br#"{"code":200}"#.to_vec());
        let back = Frame::decode(&ack.encode()).unwrap();
        let read = |f: &Frame| classify(f);
        assert_eq!(
            read(&back),
            Inbound::Ack {
                message_id: "e4".into(),
                code: 200
            }
        );
        ack.payload = Some(br#"{"code":500,"headers":null,"data":null}"#.to_vec());
        assert!(matches!(read(&ack), Inbound::Ack { code: 500, .. }));
        ack.payload = Some(b"not json".to_vec());
        assert!(matches!(read(&ack), Inbound::Ack { code: 500, .. }));
        ack.headers.retain(|h| h.key != HEADER_MESSAGE_ID);
        assert_eq!(read(&ack), Inbound::Other);
    }
}
