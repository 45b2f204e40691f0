//! Feishu's long connection over real sockets: a raw client (tokio-tungstenite and the
//! dialect's own `pbbp2` structs) does what lark-oapi's `lark.ws.Client` does: discovery,
//! the WebSocket, acks and pings. `scripts/lark_ws_check.py` runs the SDK itself.

use futures_util::{SinkExt, StreamExt};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use switchboard_core::ids::MessageId;
use switchboard_dialect_lark::events::ws::frame::{self, Frame, Header};
use switchboard_dialect_lark::ids;
use switchboard_server::config::Config;
use switchboard_testkit::{spawn_app_with, Options, Seed, TestApp};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

const WAIT: Duration = Duration::from_secs(5);

/// Retries after 300 ms (twice), a 500 ms ack deadline, a 20 ms poll; then `more`.
async fn spawn(more: impl FnOnce(&mut Config) + Send + 'static) -> TestApp {
    spawn_app_with(Options {
        configure: Some(Box::new(move |c: &mut Config| {
            c.events.retry_schedule = "300ms,300ms".into();
            c.events.timeout_ms = 500;
            c.events.poll_ms = 20;
            more(c);
        })),
        ..Options::default()
    })
    .await
}

/// Seeds the standard world and subscribes its bot to Feishu events by long connection.
async fn world(app: &TestApp) -> Seed {
    let s = app.seed().await;
    app.admin_ok(
        Method::PUT,
        &format!(
            "/tenants/{}/apps/{}/events/feishu",
            s.tenant["id"], s.bot["id"]
        ),
        Some(json!({ "mode": "long_connection", "event_types": ["im.message.receive_v1"] })),
    )
    .await;
    s
}

/// `POST /callback/ws/endpoint` as the SDKs send it.
async fn discover(app: &TestApp, app_id: &str, secret: &str) -> Value {
    let r = app
        .http
        .post(app.url("/callback/ws/endpoint"))
        .header("locale", "zh")
        .json(&json!({ "AppID": app_id, "AppSecret": secret }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "discovery always answers 200");
    r.json().await.unwrap()
}

/// Discovery, then the WebSocket; returns it and its `service_id`.
async fn connect(app: &TestApp, s: &Seed) -> (Ws, i32) {
    let d = discover(app, s.app_id(), s.app_secret()).await;
    assert_eq!(d["code"], 0, "{d}");
    let url = d["data"]["URL"].as_str().unwrap();
    let service = query(url, "service_id").parse().unwrap();
    let (ws, res) = tokio_tungstenite::connect_async(url).await.unwrap();
    assert_eq!(res.status(), 101);
    (ws, service)
}

fn query(url: &str, key: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    q.split('&')
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("{key} not in {url}"))
        .to_string()
}

/// The next `pbbp2.Frame` from the server.
async fn next_frame(ws: &mut Ws) -> Frame {
    loop {
        let m = tokio::time::timeout(WAIT, ws.next())
            .await
            .expect("a frame in time")
            .expect("the connection is open")
            .expect("a readable message");
        if let Message::Binary(b) = m {
            return Frame::decode(&b).unwrap();
        }
    }
}

/// Acks `f` the way lark-oapi does: the same frame, a `biz_rt` header, payload `{"code":…}`.
async fn ack(ws: &mut Ws, mut f: Frame, code: i32) {
    f.headers.push(Header {
        key: "biz_rt".into(),
        value: "1".into(),
    });
    f.payload = Some(format!(r#"{{"code":{code}}}"#).into_bytes());
    ws.send(Message::Binary(f.encode().into())).await.unwrap();
}

/// The event a data frame carries, after checking the five headers every one has.
fn event_of(f: &Frame) -> Value {
    assert_eq!(f.method, frame::METHOD_DATA);
    assert_eq!(f.header("type"), Some("event"));
    assert_eq!(f.header("sum"), Some("1"));
    assert_eq!(f.header("seq"), Some("0"));
    assert!(f.header("trace_id").is_some_and(|t| !t.is_empty()));
    let e: Value = serde_json::from_slice(f.payload.as_deref().unwrap()).unwrap();
    assert_eq!(f.header("message_id"), e["header"]["event_id"].as_str());
    e
}

fn om(message: &Value) -> String {
    ids::message_id(MessageId(message["id"].as_i64().unwrap()))
}

async fn say(app: &TestApp, s: &Seed, text: &str) -> Value {
    app.admin_send_text(&s.tenant, &s.p2p, ("user", &s.alice["id"]), text)
        .await
}

/// Polls the delivery log until `event_id` has `status`.
async fn wait_delivery(app: &TestApp, s: &Seed, event_id: &str, status: &str) -> Value {
    let deadline = Instant::now() + WAIT;
    let path = format!(
        "/tenants/{}/apps/{}/deliveries?limit=200",
        s.tenant["id"], s.bot["id"]
    );
    loop {
        let page = app.admin_ok(Method::GET, &path, None).await;
        let d = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["event_id"] == event_id)
            .cloned();
        if d.as_ref().is_some_and(|d| d["status"] == status) {
            return d.unwrap();
        }
        assert!(
            Instant::now() < deadline,
            "{event_id} never {status}: {d:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn discovery_answers_a_url_and_all_four_client_settings() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let d = discover(&app, s.app_id(), s.app_secret()).await;
    assert_eq!(d["code"], 0);
    assert_eq!(d["msg"], "ok");
    let url = d["data"]["URL"].as_str().unwrap();
    assert!(
        url.starts_with(&format!("ws://{}/ws/v2?", app.addr)),
        "{url}"
    );
    // device_id and service_id are there, and neither is the first parameter (Node).
    let q = url.split_once('?').unwrap().1;
    assert!(
        !q.starts_with("device_id") && !q.starts_with("service_id"),
        "{url}"
    );
    query(url, "device_id");
    query(url, "ticket");
    query(url, "service_id").parse::<i32>().unwrap();
    assert_eq!(
        d["data"]["ClientConfig"],
        json!({"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30, "PingInterval": 120})
    );
}

#[tokio::test]
async fn an_acked_event_is_delivered() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let (mut ws, service) = connect(&app, &s).await;
    let m = say(&app, &s, "hello over the long connection").await;
    let f = next_frame(&mut ws).await;
    assert_eq!(f.service, service);
    let e = event_of(&f);
    assert_eq!(e["schema"], "2.0");
    assert_eq!(e["header"]["event_type"], "im.message.receive_v1");
    assert_eq!(e["header"]["app_id"], s.app_id());
    assert_eq!(e["event"]["message"]["message_id"], om(&m));
    let id = e["header"]["event_id"].as_str().unwrap().to_string();
    ack(&mut ws, f, 200).await;
    let d = wait_delivery(&app, &s, &id, "delivered").await;
    assert_eq!(d["mode"], "long_connection");
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 1, "{d}");
    assert_eq!(attempts[0]["status"], 200);
}

#[tokio::test]
async fn an_event_not_acked_comes_again_with_the_same_id() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let (mut ws, _) = connect(&app, &s).await;
    say(&app, &s, "ack me later").await;
    let first = event_of(&next_frame(&mut ws).await);
    let id = first["header"]["event_id"].as_str().unwrap().to_string();
    // No ack: after the deadline and the retry interval, the same event again.
    let f = next_frame(&mut ws).await;
    assert_eq!(event_of(&f)["header"]["event_id"], id.as_str());
    ack(&mut ws, f, 200).await;
    let d = wait_delivery(&app, &s, &id, "delivered").await;
    let attempts = d["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2, "{d}");
    assert_eq!(attempts[0]["error"], "timeout", "{d}");
    assert_eq!(attempts[1]["status"], 200);
}

#[tokio::test]
async fn a_failed_handler_is_retried() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let (mut ws, _) = connect(&app, &s).await;
    say(&app, &s, "fail once").await;
    let f = next_frame(&mut ws).await;
    let id = event_of(&f)["header"]["event_id"]
        .as_str()
        .unwrap()
        .to_string();
    ack(&mut ws, f, 500).await;
    let again = next_frame(&mut ws).await;
    assert_eq!(event_of(&again)["header"]["event_id"], id.as_str());
    ack(&mut ws, again, 200).await;
    let d = wait_delivery(&app, &s, &id, "delivered").await;
    assert_eq!(d["attempts"][0]["status"], 500, "{d}");
}

#[tokio::test]
async fn an_event_waits_for_a_connection() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let m = say(&app, &s, "while nobody listens").await;
    // Routed, not yet delivered: no connection is open.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (mut ws, _) = connect(&app, &s).await;
    let f = next_frame(&mut ws).await;
    let e = event_of(&f);
    assert_eq!(e["event"]["message"]["message_id"], om(&m));
    let id = e["header"]["event_id"].as_str().unwrap().to_string();
    ack(&mut ws, f, 200).await;
    wait_delivery(&app, &s, &id, "delivered").await;
}

#[tokio::test]
async fn a_ping_is_answered_with_a_pong_and_the_settings() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let (mut ws, service) = connect(&app, &s).await;
    // lark-oapi's ping: SeqID 0, LogID 0, the service id, method 0, type=ping.
    let ping = Frame {
        seq_id: 0,
        log_id: 0,
        service,
        method: frame::METHOD_CONTROL,
        headers: vec![Header {
            key: "type".into(),
            value: "ping".into(),
        }],
        payload_encoding: None,
        payload_type: None,
        payload: None,
        log_id_new: None,
    };
    ws.send(Message::Binary(ping.encode().into()))
        .await
        .unwrap();
    let pong = next_frame(&mut ws).await;
    assert_eq!(pong.method, frame::METHOD_CONTROL);
    assert_eq!(pong.header("type"), Some("pong"));
    assert_eq!(pong.service, service);
    let cfg: Value = serde_json::from_slice(pong.payload.as_deref().unwrap()).unwrap();
    assert_eq!(
        cfg,
        json!({"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30, "PingInterval": 120})
    );
}

#[tokio::test]
async fn bad_credentials_and_tickets_are_refused() {
    let app = spawn(|_| {}).await;
    let s = world(&app).await;
    let d = discover(&app, s.app_id(), "not-the-secret").await;
    assert_eq!(d["code"], 514, "{d}");
    // An object, never null: the Node SDK reads data.URL before the code.
    assert_eq!(d["data"], serde_json::json!({}), "{d}");
    let d = discover(&app, "cli_0000000000000000", s.app_secret()).await;
    assert_eq!(d["code"], 514, "{d}");
    let d = discover(&app, s.app_id(), "").await;
    assert_eq!(d["code"], 1000040344, "{d}");

    // A tampered ticket: the handshake is refused with the headers the clients read.
    let good = discover(&app, s.app_id(), s.app_secret()).await;
    let url = good["data"]["URL"].as_str().unwrap();
    let ticket = query(url, "ticket");
    let mut bad = ticket.clone().into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
    let bad_url = url.replace(&ticket, std::str::from_utf8(&bad).unwrap());
    match tokio_tungstenite::connect_async(bad_url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_ne!(res.status(), 101);
            let h = res.headers();
            assert_eq!(h["handshake-status"], "514");
            assert_eq!(h["handshake-autherrcode"], "514");
            assert!(h.contains_key("handshake-msg"));
        }
        other => panic!("a bad ticket was not refused: {other:?}"),
    }
}

#[tokio::test]
async fn connections_per_app_are_capped() {
    let app = spawn(|c| c.lark.ws_max_connections_per_app = 1).await;
    let s = world(&app).await;
    let first = discover(&app, s.app_id(), s.app_secret()).await;
    let url = first["data"]["URL"].as_str().unwrap().to_string();
    let (_ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    let d = discover(&app, s.app_id(), s.app_secret()).await;
    assert_eq!(d["code"], 1000040350, "{d}");
    // A ticket issued before the cap was reached is refused at the handshake.
    match tokio_tungstenite::connect_async(url.as_str()).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => {
            assert_eq!(res.headers()["handshake-status"], "514");
            assert_eq!(res.headers()["handshake-autherrcode"], "1000040350");
        }
        other => panic!("a connection over the cap was not refused: {other:?}"),
    }
}

#[tokio::test]
async fn a_silent_connection_is_closed() {
    let app = spawn(|c| c.lark.ws_ping_interval_secs = 1).await;
    let s = world(&app).await;
    let (mut ws, _) = connect(&app, &s).await;
    // Three ping intervals (3 s) without a frame from us: the server closes.
    let started = Instant::now();
    let end = tokio::time::timeout(WAIT, async {
        loop {
            match ws.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the silent connection stayed open");
    assert!(started.elapsed() >= Duration::from_millis(2500));
}

#[tokio::test]
async fn hi_has_no_long_connection() {
    let app = spawn(|_| {}).await;
    let s = app.seed().await;
    let r = app
        .admin(
            Method::PUT,
            &format!("/tenants/{}/apps/{}/events/hi", s.tenant["id"], s.bot["id"]),
            Some(json!({ "mode": "long_connection", "event_types": ["im.message.receive"] })),
        )
        .await;
    assert_eq!(r.status, 400, "{:?}", r.body);
}

#[tokio::test]
async fn a_large_event_comes_in_fragments() {
    let app = spawn(|c| c.lark.ws_fragment_bytes = 256).await;
    let s = world(&app).await;
    let (mut ws, _) = connect(&app, &s).await;
    let text = "fragment ".repeat(100);
    let m = say(&app, &s, &text).await;
    let first = next_frame(&mut ws).await;
    let sum: usize = first.header("sum").unwrap().parse().unwrap();
    assert!(sum > 3, "{sum} fragments");
    let mut frames = vec![first];
    for _ in 1..sum {
        frames.push(next_frame(&mut ws).await);
    }
    let mut payload = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        assert_eq!(f.header("seq"), Some(i.to_string().as_str()));
        assert_eq!(f.header("message_id"), frames[0].header("message_id"));
        assert_eq!(f.header("trace_id"), frames[0].header("trace_id"));
        assert!(f.payload.as_ref().unwrap().len() <= 256);
        payload.extend_from_slice(f.payload.as_deref().unwrap());
    }
    let e: Value = serde_json::from_slice(&payload).unwrap();
    assert_eq!(e["event"]["message"]["message_id"], om(&m));
    let content: Value =
        serde_json::from_str(e["event"]["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(content["text"], text.as_str());
    let id = e["header"]["event_id"].as_str().unwrap().to_string();
    // Clients ack once, with the frame that completed the event.
    ack(&mut ws, frames.pop().unwrap(), 200).await;
    wait_delivery(&app, &s, &id, "delivered").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_event_written_on_one_node_goes_down_a_connection_held_by_another() {
    if switchboard_testkit::store_kind() != "postgres" {
        eprintln!("skipped: two nodes need SWITCHBOARD_TEST_STORE=postgres");
        return;
    }
    let a = spawn(|_| {}).await;
    let b = a.second_node().await;
    // The subscription is made through A; discovery and the WebSocket are B's alone.
    let s = world(&a).await;
    let (mut ws, service) = connect(&b, &s).await;
    let d = discover(&b, s.app_id(), s.app_secret()).await;
    let url = d["data"]["URL"].as_str().unwrap();
    assert!(url.starts_with(&format!("ws://{}/ws/v2?", b.addr)), "{url}");

    let m = say(&a, &s, "written on A, delivered by B").await;
    let f = next_frame(&mut ws).await;
    assert_eq!(f.service, service);
    let e = event_of(&f);
    assert_eq!(e["header"]["event_type"], "im.message.receive_v1");
    assert_eq!(e["header"]["app_id"], s.app_id());
    assert_eq!(e["event"]["message"]["message_id"], om(&m));
    let id = e["header"]["event_id"].as_str().unwrap().to_string();
    ack(&mut ws, f, 200).await;

    // Both nodes read the same log: one attempt (B's), answered 200; A, holding no
    // connection, made none.
    for node in [&a, &b] {
        let d = wait_delivery(node, &s, &id, "delivered").await;
        assert_eq!(d["mode"], "long_connection");
        let attempts = d["attempts"].as_array().unwrap();
        assert_eq!(attempts.len(), 1, "{d}");
        assert_eq!(attempts[0]["status"], 200, "{d}");
        assert!(attempts[0]["error"].is_null(), "{d}");
    }
    // Nothing comes again: the event is not redelivered by either node.
    let more = tokio::time::timeout(Duration::from_millis(800), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Binary(b))) => return Some(Frame::decode(&b).unwrap()),
                Some(Ok(_)) => {}
                None | Some(Err(_)) => return None,
            }
        }
    })
    .await;
    if let Ok(Some(f)) = more {
        assert_ne!(f.method, frame::METHOD_DATA, "an event came again: {f:?}");
    }
    let d = wait_delivery(&a, &s, &id, "delivered").await;
    assert_eq!(d["attempts"].as_array().unwrap().len(), 1, "{d}");
}
