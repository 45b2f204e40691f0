//! Correctly authenticated requests, precomputed: what wrk replays and what the harness
//! checks beforehand with a real HTTP client.

use crate::dataset::{World, READER};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::io::Write;
use std::path::{Path, PathBuf};
use switchboard_dialect_lark::ids as lark;
use switchboard_dialect_wps::ids as wps;
use switchboard_dialect_yunxin::ids as yunxin;

/// What is measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// The bare server, fed the WPS request list.
    Baseline,
    /// WPS 365 v7 get message: Bearer token + KSO-1 signature with a fresh date.
    Wps,
    /// Feishu v1 get message: Bearer tenant token.
    Feishu,
    /// Yunxin v2 query message: AppKey/Nonce/CurTime/CheckSum, every nonce unique.
    Yunxin,
    /// Feishu v1 send (text) to a random chat.
    Send,
    /// The same, each with its own `uuid`: every send also claims an idempotency key.
    SendKeyed,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Baseline => "baseline",
            Workload::Wps => "wps",
            Workload::Feishu => "feishu",
            Workload::Yunxin => "yunxin",
            Workload::Send => "send",
            Workload::SendKeyed => "send_keyed",
        }
    }
    pub fn label(self) -> &'static str {
        match self {
            Workload::Baseline => "baseline (bare axum, fixed 500 B)",
            Workload::Wps => "GET WPS v7 (KSO-1 + Bearer)",
            Workload::Feishu => "GET Feishu v1 (Bearer tenant token)",
            Workload::Yunxin => "GET Yunxin v2 (CheckSum, unique nonces)",
            Workload::Send => "send, Feishu v1 (durable)",
            Workload::SendKeyed => "send with a uuid, Feishu v1 (durable)",
        }
    }
}

/// Credentials the requests carry.
pub struct Creds {
    pub wps_token: String,
    pub lark_token: String,
}

/// One request, in a form both wrk (raw) and reqwest can send.
#[derive(Debug, Clone)]
pub struct Req {
    pub method: &'static str,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// A string the success body must contain (the rendered message or chat id).
    pub expect: String,
}

impl Req {
    pub fn raw(&self, host: &str) -> String {
        let mut s = format!("{} {} HTTP/1.1\r\nHost: {host}\r\n", self.method, self.path);
        for (k, v) in &self.headers {
            s.push_str(k);
            s.push_str(": ");
            s.push_str(v);
            s.push_str("\r\n");
        }
        if self.method != "GET" {
            s.push_str(&format!("Content-Length: {}\r\n", self.body.len()));
        }
        s.push_str("\r\n");
        s.push_str(&self.body);
        s
    }
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs() as i64
}

/// Builds requests of one workload over `world`.
pub struct Builder<'a> {
    world: &'a World,
    creds: &'a Creds,
    prefix: Vec<u64>,
    rng: StdRng,
    date: String,
    cur_time: String,
    nonce_base: u64,
    nonce_seq: u64,
}

impl<'a> Builder<'a> {
    pub fn new(world: &'a World, creds: &'a Creds, seed: u64) -> Self {
        let now = now_secs();
        Builder {
            world,
            creds,
            prefix: world.prefix(),
            rng: StdRng::seed_from_u64(seed),
            // One fresh date for the whole list: the signatures are computed now, and the
            // server accepts dates within its skew (15 min for WPS, 5 min for Yunxin).
            date: switchboard_dialect_wps::kso_date(now),
            cur_time: now.to_string(),
            nonce_base: rand::random(),
            nonce_seq: 0,
        }
    }

    pub fn next(&mut self, w: Workload) -> Req {
        let app = &self.world.app;
        match w {
            Workload::Baseline | Workload::Wps => {
                let id = self.world.random_message(&mut self.rng, &self.prefix);
                let path = format!(
                    "/v7/chats/{}/messages/{}",
                    wps::chat_id(id.chat()),
                    wps::message_id(id)
                );
                let ct = "application/json";
                let mut headers = vec![
                    (
                        "Authorization".into(),
                        format!("Bearer {}", self.creds.wps_token),
                    ),
                    ("Content-Type".into(), ct.into()),
                ];
                headers.extend(switchboard_dialect_wps::sign_headers(
                    "GET",
                    &path,
                    ct,
                    b"",
                    &app.app_id,
                    app.app_secret.expose(),
                    &self.date,
                ));
                Req {
                    method: "GET",
                    path,
                    headers,
                    body: String::new(),
                    expect: wps::message_id(id),
                }
            }
            Workload::Feishu => {
                let id = self.world.random_message(&mut self.rng, &self.prefix);
                Req {
                    method: "GET",
                    path: format!("/open-apis/im/v1/messages/{}", lark::message_id(id)),
                    headers: vec![(
                        "Authorization".into(),
                        format!("Bearer {}", self.creds.lark_token),
                    )],
                    body: String::new(),
                    expect: lark::message_id(id),
                }
            }
            Workload::Yunxin => {
                let id = self.world.random_message(&mut self.rng, &self.prefix);
                self.nonce_seq += 1;
                let nonce = format!("{:016x}{:010}", self.nonce_base, self.nonce_seq);
                let sum = switchboard_dialect_yunxin::auth::checksum(
                    app.app_secret.expose(),
                    &nonce,
                    &self.cur_time,
                );
                Req {
                    method: "GET",
                    path: format!(
                        "/im/v2/conversations/{READER}%7C2%7C{}/messages/{}",
                        yunxin::team_id(id.chat()),
                        yunxin::message_server_id(id)
                    ),
                    headers: vec![
                        ("AppKey".into(), app.app_id.clone()),
                        ("Nonce".into(), nonce),
                        ("CurTime".into(), self.cur_time.clone()),
                        ("CheckSum".into(), sum),
                    ],
                    body: String::new(),
                    expect: yunxin::message_server_id(id).to_string(),
                }
            }
            Workload::Send | Workload::SendKeyed => {
                let chat = self.world.chats[self.rng.gen_range(0..self.world.chats.len())];
                self.nonce_seq += 1;
                let text = format!("load message {} from the send benchmark", self.nonce_seq);
                let content = serde_json::json!({ "text": text }).to_string();
                let mut body = serde_json::json!({
                    "receive_id": lark::chat_id(chat),
                    "msg_type": "text",
                    "content": content,
                });
                if w == Workload::SendKeyed {
                    // Unique for the builder (a reused key would be answered from the
                    // first send, not appended): 36 characters of Feishu's 50.
                    body["uuid"] =
                        format!("b{:016x}{:019}", self.nonce_base, self.nonce_seq).into();
                }
                let body = body.to_string();
                Req {
                    method: "POST",
                    path: "/open-apis/im/v1/messages?receive_id_type=chat_id".into(),
                    headers: vec![
                        (
                            "Authorization".into(),
                            format!("Bearer {}", self.creds.lark_token),
                        ),
                        (
                            "Content-Type".into(),
                            "application/json; charset=utf-8".into(),
                        ),
                    ],
                    body,
                    expect: lark::chat_id(chat),
                }
            }
        }
    }
}

/// Writes `per_thread` requests for each of `threads` wrk threads as `prefix.1`, `prefix.2`, …
/// in the format replay.lua reads.
pub fn write_files(
    b: &mut Builder,
    w: Workload,
    host: &str,
    threads: u32,
    per_thread: usize,
    prefix: &Path,
) -> anyhow::Result<PathBuf> {
    for t in 1..=threads {
        let path = PathBuf::from(format!("{}.{t}", prefix.display()));
        let f = std::fs::File::create(&path)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 20, f);
        for _ in 0..per_thread {
            let raw = b.next(w).raw(host);
            write!(out, "{}\n{raw}", raw.len())?;
        }
        out.flush()?;
    }
    Ok(prefix.to_path_buf())
}
