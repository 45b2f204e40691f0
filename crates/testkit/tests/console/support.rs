//! What the console tests share: a cookie-keeping browser without JavaScript, a world per
//! tenant with recognisable names, snapshots of what the admin API holds, and an
//! SSE reader.

use reqwest::header::{HeaderMap, COOKIE, LOCATION, SET_COOKIE};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use switchboard_testkit::{Reply, TestApp};

/// A client that shows redirects instead of following them and keeps no cookies: the tests
/// read `Location` and `Set-Cookie` themselves.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// Every `Set-Cookie` line of an answer.
pub fn set_cookies(h: &HeaderMap) -> Vec<String> {
    h.get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(str::to_string)
        .collect()
}

/// The `Set-Cookie` line for cookie `name`, if the answer sets it.
pub fn set_cookie_line(h: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(h)
        .into_iter()
        .find(|l| l.starts_with(&format!("{name}=")))
}

/// The value a `Set-Cookie` line gives its cookie.
pub fn cookie_value(line: &str) -> String {
    let pair = line.split(';').next().unwrap();
    pair.split_once('=').unwrap().1.to_string()
}

pub fn location(r: &Reply) -> String {
    r.headers
        .get(LOCATION)
        .unwrap_or_else(|| panic!("no Location in {} {}", r.status, r.text))
        .to_str()
        .unwrap()
        .to_string()
}

/// The `value` of the first `<input ... name="NAME" value="...">` in a page.
pub fn hidden_field(html: &str, name: &str) -> Option<String> {
    let at = html.find(&format!("name=\"{name}\" value=\""))?;
    let rest = &html[at + name.len() + 15..];
    Some(rest[..rest.find('"')?].to_string())
}

/// The CSRF token a signed-in page carries in its `<meta name="csrf-token">`.
pub fn meta_csrf(html: &str) -> Option<String> {
    let key = "<meta name=\"csrf-token\" content=\"";
    let at = html.find(key)?;
    let rest = &html[at + key.len()..];
    Some(rest[..rest.find('"')?].to_string())
}

/// `s` with every byte but ASCII letters and digits percent-encoded, as the console encodes
/// the page a sign-in returns to.
pub fn encode_all(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// How many times `needle` occurs in `hay`.
pub fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// A form's fields as owned pairs.
pub fn form(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The sign-in form: its `sb_console_pre` cookie and the same value in the hidden `pre`.
pub async fn sign_in_form(http: &reqwest::Client, base: &str) -> String {
    let r = Reply::from(
        http.get(format!("{base}/console/sign-in"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let line = set_cookie_line(&r.headers, "sb_console_pre").expect("the form sets its cookie");
    let pre = cookie_value(&line);
    assert!(!pre.is_empty());
    assert_eq!(
        hidden_field(&r.text, "pre").as_deref(),
        Some(pre.as_str()),
        "the form's pre field is its cookie's value"
    );
    pre
}

/// POST `/console/sign-in` with the given fields and, when `pre_cookie` is set, that cookie.
pub async fn post_sign_in(
    http: &reqwest::Client,
    base: &str,
    pre_cookie: Option<&str>,
    fields: &[(&str, &str)],
) -> Reply {
    let mut req = http
        .post(format!("{base}/console/sign-in"))
        .form(&form(fields));
    if let Some(p) = pre_cookie {
        req = req.header(COOKIE, format!("sb_console_pre={p}"));
    }
    Reply::from(req.send().await.unwrap()).await
}

/// A signed-in browser: its session cookie and the session's CSRF token.
pub struct Browser {
    pub http: reqwest::Client,
    pub base: String,
    pub session: String,
    pub csrf: String,
}

impl Browser {
    /// Signs in with the admin token as a browser does, and reads the CSRF token from the
    /// first page.
    pub async fn sign_in(app: &TestApp) -> Browser {
        let http = client();
        let pre = sign_in_form(&http, &app.base).await;
        let r = post_sign_in(
            &http,
            &app.base,
            Some(&pre),
            &[
                ("token", &app.admin_token),
                ("pre", &pre),
                ("next", "/console/playground"),
            ],
        )
        .await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
        assert_eq!(location(&r), "/console/playground");
        let line = set_cookie_line(&r.headers, "sb_console").expect("a session cookie");
        let mut b = Browser {
            http,
            base: app.base.clone(),
            session: cookie_value(&line),
            csrf: String::new(),
        };
        let page = b.page("/console/playground").await;
        b.csrf = meta_csrf(&page).expect("a signed-in page names its CSRF token");
        assert_eq!(
            hidden_field(&page, "csrf").as_deref(),
            Some(b.csrf.as_str())
        );
        b
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        let mut req = self
            .http
            .get(self.url(path))
            .header(COOKIE, format!("sb_console={}", self.session));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    /// A page that must render: its HTML.
    pub async fn page(&self, path: &str) -> String {
        let r = self.get(path).await;
        assert_eq!(r.status, StatusCode::OK, "GET {path}: {}", r.text);
        r.text
    }

    /// POSTs a form exactly as given (no CSRF field added).
    pub async fn post(&self, path: &str, fields: &[(String, String)]) -> Reply {
        self.post_with(path, fields, &[]).await
    }

    pub async fn post_with(
        &self,
        path: &str,
        fields: &[(String, String)],
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut req = self
            .http
            .post(self.url(path))
            .header(COOKIE, format!("sb_console={}", self.session))
            .form(fields);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        Reply::from(req.send().await.unwrap()).await
    }

    /// POSTs a form with this session's CSRF token in its `csrf` field.
    pub async fn post_csrf(&self, path: &str, fields: &[(String, String)]) -> Reply {
        let mut f = fields.to_vec();
        f.push(("csrf".into(), self.csrf.clone()));
        self.post(path, &f).await
    }
}

/// One tenant's recognisable world: a user who talks, a user in no chat, a bot, a group
/// holding the first user and the bot, and a message in it.
pub struct World {
    pub tenant: Value,
    pub user: Value,
    pub outsider: Value,
    pub bot: Value,
    pub group: Value,
    pub message: Value,
    pub whisper: Value,
    /// The event the whisper made for the bot.
    pub event_id: String,
}

impl World {
    pub fn t(&self) -> String {
        self.tenant["id"].to_string()
    }
    pub fn chat(&self) -> String {
        self.group["id"].to_string()
    }
}

/// A tenant whose every name and text starts with `tag`, so a page can be searched for it.
pub async fn world(app: &TestApp, tag: &str) -> World {
    let tenant = app.create_tenant(&format!("{tag} Tenant")).await;
    let user = app
        .create_user(
            &tenant,
            &format!("{tag} Speaker"),
            &format!("{}-speaker", tag.to_lowercase()),
        )
        .await;
    let outsider = app
        .create_user(
            &tenant,
            &format!("{tag} Outsider"),
            &format!("{}-outsider", tag.to_lowercase()),
        )
        .await;
    let bot = app.create_app(&tenant, &format!("{tag} Bot")).await;
    // Nobody holds the long connection, so the bot's events wait in its delivery log.
    app.admin_ok(
        Method::PUT,
        &format!("/tenants/{}/apps/{}/events/feishu", tenant["id"], bot["id"]),
        Some(json!({ "mode": "long_connection", "event_types": ["im.message.receive_v1"] })),
    )
    .await;
    let group = app
        .create_chat(
            &tenant,
            "group",
            Some(&format!("{tag} Square")),
            ("user", &user["id"]),
            &[("app", &bot["id"])],
        )
        .await;
    let message = app
        .admin_send_text(
            &tenant,
            &group,
            ("user", &user["id"]),
            &format!("{tag} says hello"),
        )
        .await;
    // A direct message reaches the bot whatever it says: an event to redeliver.
    let p2p = app
        .create_chat(
            &tenant,
            "p2p",
            None,
            ("app", &bot["id"]),
            &[("user", &user["id"])],
        )
        .await;
    let whisper = app
        .admin_send_text(
            &tenant,
            &p2p,
            ("user", &user["id"]),
            &format!("{tag} whispers to the bot"),
        )
        .await;
    let deliveries = format!("/tenants/{}/apps/{}/deliveries", tenant["id"], bot["id"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    let event_id = loop {
        let d = app.admin_ok(Method::GET, &deliveries, None).await;
        if let Some(id) = d["items"][0]["event_id"].as_str() {
            break id.to_string();
        }
        assert!(Instant::now() < deadline, "the whisper made no event");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    World {
        tenant,
        user,
        outsider,
        bot,
        group,
        message,
        whisper,
        event_id,
    }
}

/// Everything a console form could change in a world, as the admin API reports it.
pub async fn snapshot(app: &TestApp, w: &World) -> Value {
    let t = w.t();
    let a = &w.bot["id"];
    let get = |p: String| async move { app.admin_ok(Method::GET, &p, None).await };
    let tenants = get("/tenants?limit=1000".into()).await;
    let users = get(format!("/tenants/{t}/users?limit=1000")).await;
    let apps = get(format!("/tenants/{t}/apps?limit=1000")).await;
    let chats = get(format!("/tenants/{t}/chats?limit=1000")).await;
    let group = get(format!("/tenants/{t}/chats/{}", w.chat())).await;
    let message = get(format!(
        "/tenants/{t}/chats/{}/messages/{}",
        w.chat(),
        w.message["id"]
    ))
    .await;
    let bot = get(format!("/tenants/{t}/apps/{a}")).await;
    let secret = get(format!("/tenants/{t}/apps/{a}/secret")).await;
    let events = get(format!("/tenants/{t}/apps/{a}/events")).await;
    let deliveries = get(format!("/tenants/{t}/apps/{a}/deliveries")).await;
    json!({
        "tenants": tenants["items"],
        "users": users["items"],
        "apps": apps["items"],
        "chats": chats["items"].as_array().map(Vec::len),
        "last_position": group["last_position"],
        "members": group["members"],
        "message": message,
        "bot": bot,
        "secret": secret["app_secret"],
        "events": events["items"],
        "deliveries": deliveries["items"],
    })
}

/// The GET routes that render a page; ids need not exist, the gate comes first.
pub const PAGES: &[&str] = &[
    "/console/playground",
    "/console/playground?tenant=1&as=2&chat=3&before=9",
    "/console/playground/live?tenant=1&as=2&chat=3",
    "/console/messages?tenant=1&chat=1&message=om_x",
    "/console/admin",
    "/console/admin/tenant?tenant=1",
    "/console/admin/app?tenant=1&app=1",
    "/console/admin/chat?tenant=1&chat=1",
    "/console/deliveries?tenant=1&app=1&status=failed",
    "/console/deliveries/live?tenant=1&app=1",
    "/console/inspector?id=om_abc&app=1",
];

/// Every state-changing console route with a form that, signed and with the right CSRF
/// token, would write to `w` (and reveal returns its secret).
pub fn state_changing_forms(w: &World) -> Vec<(&'static str, Vec<(String, String)>)> {
    let t = w.t();
    let chat = w.chat();
    let user = w.user["id"].to_string();
    let outsider = format!("user:{}", w.outsider["id"]);
    let app = w.bot["id"].to_string();
    let msg = w.message["id"].to_string();
    vec![
        (
            "/console/playground/send",
            form(&[
                ("tenant", &t),
                ("as", &user),
                ("chat", &chat),
                ("text", "forged send"),
            ]),
        ),
        (
            "/console/playground/edit",
            form(&[
                ("tenant", &t),
                ("as", &user),
                ("chat", &chat),
                ("message", &msg),
                ("text", "forged edit"),
            ]),
        ),
        (
            "/console/playground/recall",
            form(&[
                ("tenant", &t),
                ("as", &user),
                ("chat", &chat),
                ("message", &msg),
            ]),
        ),
        ("/console/admin", form(&[("name", "Forged Tenant")])),
        (
            "/console/admin/users",
            form(&[
                ("tenant", &t),
                ("name", "Forged User"),
                ("user_id", "forged"),
            ]),
        ),
        (
            "/console/admin/apps",
            form(&[("tenant", &t), ("name", "Forged App")]),
        ),
        (
            "/console/admin/app",
            form(&[
                ("tenant", &t),
                ("app", &app),
                ("name", "Forged Name"),
                ("scopes", ""),
            ]),
        ),
        (
            "/console/admin/app/reveal",
            form(&[("tenant", &t), ("app", &app)]),
        ),
        (
            "/console/admin/app/rotate",
            form(&[("tenant", &t), ("app", &app)]),
        ),
        (
            "/console/admin/app/events",
            form(&[
                ("tenant", &t),
                ("app", &app),
                ("dialect", "feishu"),
                ("mode", "long_connection"),
                (
                    "event_types",
                    "im.message.receive_v1, im.message.recalled_v1",
                ),
            ]),
        ),
        (
            "/console/admin/app/events/delete",
            form(&[("tenant", &t), ("app", &app), ("dialect", "feishu")]),
        ),
        (
            "/console/admin/chats",
            form(&[
                ("tenant", &t),
                ("type", "group"),
                ("name", "Forged Chat"),
                ("owner", &format!("user:{user}")),
                ("members", &outsider),
            ]),
        ),
        (
            "/console/admin/chat",
            form(&[
                ("tenant", &t),
                ("chat", &chat),
                ("action", "add"),
                ("member", &outsider),
            ]),
        ),
        (
            "/console/deliveries/redeliver",
            form(&[("tenant", &t), ("app", &app), ("event_id", &w.event_id)]),
        ),
        ("/console/sign-out", vec![]),
    ]
}

/// The messages of a chat, oldest first, as the admin API has them.
pub async fn chat_texts(app: &TestApp, w: &World) -> Vec<String> {
    let page = app
        .admin_ok(
            Method::GET,
            &format!("/tenants/{}/chats/{}/messages?limit=200", w.t(), w.chat()),
            None,
        )
        .await;
    page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The names and texts of world `w` that no page of another tenant may show. (A tenant's
/// own name is in every playground's tenant picker: the console is an operator's tool.)
pub fn marks(w: &World) -> Vec<String> {
    vec![
        w.user["name"].as_str().unwrap().to_string(),
        w.user["user_id"].as_str().unwrap().to_string(),
        w.outsider["name"].as_str().unwrap().to_string(),
        w.bot["name"].as_str().unwrap().to_string(),
        w.group["name"].as_str().unwrap().to_string(),
        w.message["text"].as_str().unwrap().to_string(),
        w.whisper["text"].as_str().unwrap().to_string(),
    ]
}

pub fn assert_none_of(page: &str, marks: &[String], what: &str) {
    for m in marks {
        assert!(!page.contains(m.as_str()), "{what} shows {m:?}");
    }
}

/// Reads an SSE body as it arrives.
pub struct Events {
    pub res: reqwest::Response,
    pub buf: String,
}

impl Events {
    /// The next event of type `kind` whose data satisfies `want`, within `within`.
    pub async fn next_where(
        &mut self,
        kind: &str,
        within: Duration,
        want: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + within;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let mut event = "message";
                let mut data = String::new();
                for line in block.lines() {
                    if let Some(e) = line.strip_prefix("event:") {
                        event = if e.trim() == kind { kind } else { "other" };
                    } else if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.trim_start());
                    }
                }
                if event == kind && !data.is_empty() {
                    let v: Value = serde_json::from_str(&data).unwrap();
                    if want(&v) {
                        return v;
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.res.chunk())
                .await
                .unwrap_or_else(|_| panic!("no such {kind} event within {within:?}"))
                .unwrap()
                .expect("the stream ended");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}
