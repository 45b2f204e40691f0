//! A Feishu webhook receiver for plaintext subscriptions, in the test process: it answers
//! the URL-verification challenge and records every event it is sent, as
//! (`header.event_id`, `event.message.message_id`), in arrival order. HTTP/1.1 with
//! keep-alive, one thread per connection; every answer is 200.

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// One delivered event: its id, type and the message it names (`None` for a chat event).
#[derive(Clone, Debug)]
#[allow(dead_code)]
pub struct Seen {
    pub event_id: String,
    pub event_type: String,
    pub message_id: Option<String>,
}

#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    challenges: Arc<Mutex<u32>>,
}

#[allow(dead_code)]
impl Receiver {
    pub fn start() -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/events", listener.local_addr().unwrap());
        let r = Receiver {
            url,
            seen: Arc::default(),
            challenges: Arc::default(),
        };
        let me = r.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let me = me.clone();
                std::thread::spawn(move || me.serve(conn));
            }
        });
        r
    }

    /// Every event received so far, in arrival order (redeliveries included).
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many URL-verification challenges it has answered.
    pub fn challenges(&self) -> u32 {
        *self.challenges.lock().unwrap()
    }

    fn serve(&self, conn: TcpStream) {
        let mut out = conn.try_clone().unwrap();
        let mut rd = BufReader::new(conn);
        loop {
            let mut len = 0usize;
            let mut first = true;
            loop {
                let mut line = String::new();
                match rd.read_line(&mut line) {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
                let line = line.trim_end();
                if line.is_empty() {
                    if first {
                        continue;
                    }
                    break;
                }
                first = false;
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("content-length") {
                        len = v.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0u8; len];
            if rd.read_exact(&mut body).is_err() {
                return;
            }
            let answer = self.handle(&body).to_string();
            let resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{answer}",
                answer.len()
            );
            if out.write_all(resp.as_bytes()).is_err() {
                return;
            }
        }
    }

    fn handle(&self, body: &[u8]) -> Value {
        let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        if v["type"] == "url_verification" {
            *self.challenges.lock().unwrap() += 1;
            return json!({ "challenge": v["challenge"] });
        }
        // An event without an id is recorded with an empty one, for the test to refuse.
        let event_id = v["header"]["event_id"].as_str().unwrap_or_default();
        self.seen.lock().unwrap().push(Seen {
            event_id: event_id.to_string(),
            event_type: v["header"]["event_type"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            message_id: v["event"]["message"]["message_id"]
                .as_str()
                .map(str::to_string),
        });
        json!({})
    }
}
