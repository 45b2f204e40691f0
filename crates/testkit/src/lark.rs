//! A BOSS Hi / Feishu client for integration tests: fetches tenant tokens through either
//! face and calls the IM API with them, plus a structural JSON comparison for snapshot
//! fixtures.

use crate::{Reply, Seed, TestApp};
use reqwest::Method;
use serde_json::{json, Value};

/// Which face of the dialect a client speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Face {
    Hi,
    Feishu,
}

impl Face {
    pub const BOTH: [Face; 2] = [Face::Hi, Face::Feishu];

    /// The IM prefix: `/open-apis/im/v1` (Feishu) or `/open-apis/im` (Hi).
    pub fn im(self) -> &'static str {
        match self {
            Face::Hi => "/open-apis/im",
            Face::Feishu => "/open-apis/im/v1",
        }
    }

    pub fn token_path(self) -> &'static str {
        match self {
            Face::Hi => "/open-apis/auth/tenant_access_token/internal",
            Face::Feishu => "/open-apis/auth/v3/tenant_access_token/internal",
        }
    }
}

/// A client of one app through one face.
pub struct Lark<'a> {
    pub app: &'a TestApp,
    pub face: Face,
    pub token: String,
}

/// POSTs credentials to a face's tenant-token endpoint.
pub async fn request_token(app: &TestApp, face: Face, app_id: &str, secret: &str) -> Reply {
    let body = json!({ "app_id": app_id, "app_secret": secret });
    let r = app
        .http
        .post(app.url(face.token_path()))
        .json(&body)
        .send()
        .await
        .expect("request");
    Reply::from(r).await
}

/// The token out of a token response of either face.
pub fn token_of(face: Face, r: &Reply) -> String {
    let t = match face {
        Face::Hi => &r.body["data"]["tenant_access_token"],
        Face::Feishu => &r.body["tenant_access_token"],
    };
    t.as_str()
        .unwrap_or_else(|| panic!("no token in {}", r.text))
        .to_string()
}

impl<'a> Lark<'a> {
    /// Logs the seed's bot in through `face`.
    pub async fn login(app: &'a TestApp, seed: &Seed, face: Face) -> Lark<'a> {
        Self::login_as(app, &seed.bot, face).await
    }

    /// Logs in the app `bot` (as the admin API returned it at creation, with its secret).
    pub async fn login_as(app: &'a TestApp, bot: &Value, face: Face) -> Lark<'a> {
        let r = request_token(
            app,
            face,
            bot["app_id"].as_str().unwrap(),
            bot["app_secret"].as_str().unwrap(),
        )
        .await;
        assert_eq!(r.body["code"], 0, "token: {}", r.text);
        Lark {
            app,
            face,
            token: token_of(face, &r),
        }
    }

    /// The same app through the other face (tokens are shared by both faces).
    pub fn with_face(&self, face: Face) -> Lark<'a> {
        Lark {
            app: self.app,
            face,
            token: self.token.clone(),
        }
    }

    /// `path` is relative to the face's IM prefix (e.g. `/messages/om_x?user_id_type=open_id`).
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        self.raw(
            method,
            &format!("{}{}", self.face.im(), path),
            Some(&self.token),
            body,
        )
        .await
    }

    /// Any path, any (or no) token.
    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.app.http.request(method, self.app.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Reply::from(req.send().await.expect("request")).await
    }

    pub async fn get(&self, message_id: &str, query: &str) -> Reply {
        self.call(Method::GET, &format!("/messages/{message_id}{query}"), None)
            .await
    }

    /// The one message object a get returns (Hi: `data`; Feishu: `data.items[0]`).
    pub async fn get_one(&self, message_id: &str) -> Value {
        let r = self.get(message_id, "").await;
        assert_eq!(r.body["code"], 0, "get {message_id}: {}", r.text);
        item(self.face, &r)
    }

    /// Sends `content` (a JSON value, serialised into the content string) to a chat.
    pub async fn send(&self, chat_id: &str, msg_type: &str, content: Value) -> Reply {
        self.send_to("chat_id", chat_id, msg_type, content, None)
            .await
    }

    pub async fn send_to(
        &self,
        id_type: &str,
        receive_id: &str,
        msg_type: &str,
        content: Value,
        uuid: Option<&str>,
    ) -> Reply {
        let mut body = json!({ "receive_id": receive_id, "msg_type": msg_type, "content": content.to_string() });
        if let Some(u) = uuid {
            body["uuid"] = json!(u);
        }
        self.call(
            Method::POST,
            &format!("/messages?receive_id_type={id_type}"),
            Some(body),
        )
        .await
    }

    /// Sends a text to a chat and returns the new message's id.
    pub async fn send_text(&self, chat_id: &str, text: &str) -> String {
        let r = self.send(chat_id, "text", json!({ "text": text })).await;
        assert_eq!(r.body["code"], 0, "send: {}", r.text);
        r.body["data"]["message_id"].as_str().unwrap().to_string()
    }
}

impl Lark<'_> {
    /// `GET /messages?{query}`: a chat's or thread's history.
    pub async fn history(&self, query: &str) -> Reply {
        self.call(Method::GET, &format!("/messages?{query}"), None)
            .await
    }
}

/// The `text` of each message item of a list page (`""` for other content).
pub fn page_texts(r: &Reply) -> Vec<String> {
    r.body["data"]["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items in {}", r.text))
        .iter()
        .map(|i| {
            let c: Value = serde_json::from_str(i["body"]["content"].as_str().unwrap_or("{}"))
                .unwrap_or(Value::Null);
            c["text"].as_str().unwrap_or_default().to_string()
        })
        .collect()
}

/// A list page's `page_token`.
pub fn page_token(r: &Reply) -> String {
    r.body["data"]["page_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no page_token in {}", r.text))
        .to_string()
}

/// A list page's `has_more`.
pub fn has_more(r: &Reply) -> bool {
    r.body["data"]["has_more"]
        .as_bool()
        .unwrap_or_else(|| panic!("no has_more in {}", r.text))
}

/// The message object of a get response.
pub fn item(face: Face, r: &Reply) -> Value {
    match face {
        Face::Hi => r.body["data"].clone(),
        Face::Feishu => r.body["data"]["items"][0].clone(),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Compares `actual` with a documented example structurally: every key of the example is
/// present with the same JSON type (a `null` in the example accepts a string or null, since
/// the vendor's capture nulled out ids), arrays are compared element by element against the
/// example's first element, and `actual` may have only the extra keys listed in `extra`
/// (as `path.key`, e.g. `data.sender.id_type`). Returns the differences.
pub fn shape_diff(example: &Value, actual: &Value, extra: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    walk(example, actual, "", extra, &mut out);
    out
}

fn walk(e: &Value, a: &Value, path: &str, extra: &[&str], out: &mut Vec<String>) {
    match (e, a) {
        (Value::Null, Value::Null | Value::String(_)) => {}
        (Value::Object(eo), Value::Object(ao)) => {
            for (k, ev) in eo {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match ao.get(k) {
                    Some(av) => walk(ev, av, &p, extra, out),
                    None => out.push(format!("missing {p}")),
                }
            }
            for k in ao.keys().filter(|k| !eo.contains_key(*k)) {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                if !extra.contains(&p.as_str()) {
                    out.push(format!("unexpected {p}"));
                }
            }
        }
        (Value::Array(ea), Value::Array(aa)) => {
            if let Some(first) = ea.first() {
                if aa.is_empty() {
                    out.push(format!("{path}: empty array, example has elements"));
                }
                for av in aa {
                    walk(first, av, &format!("{path}[]"), extra, out);
                }
            }
        }
        _ if kind(e) == kind(a) => {}
        _ => out.push(format!(
            "{path}: {} in the example, {} here",
            kind(e),
            kind(a)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_diff_finds_differences() {
        let e = json!({ "a": 1, "b": null, "c": [{ "x": "s" }], "d": { "e": true } });
        assert!(shape_diff(
            &e,
            &json!({ "a": 2, "b": "id", "c": [{ "x": "t" }], "d": { "e": false } }),
            &[]
        )
        .is_empty());
        let d = shape_diff(
            &e,
            &json!({ "a": "1", "c": [{ "x": 1 }], "d": { "e": true, "f": 1 }, "z": 0 }),
            &["z"],
        );
        assert_eq!(
            d,
            vec![
                "a: number in the example, string here",
                "missing b",
                "c[].x: string in the example, number here",
                "unexpected d.f"
            ]
        );
    }
}
