//! Files and images over HTTP, on either store (`SWITCHBOARD_TEST_STORE=postgres`):
//! Feishu uploads and downloads byte for byte, message resources for members only, other
//! tenants' keys not found, refused uploads answered in Feishu's 234xxx codes with no row
//! left, and an image sent through Feishu rendered by WPS (its `storage_key`) and Yunxin
//! (its `url`, which downloads the same bytes).

use reqwest::header::{CONTENT_DISPOSITION, CONTENT_TYPE};
use serde_json::{json, Value};
use switchboard_core::ids::{ChatId, MessageId, TenantId};
use switchboard_dialect_lark::ids as lark_ids;
use switchboard_testkit::lark::{Face, Lark};
use switchboard_testkit::wps::{wps_id, WpsClient};
use switchboard_testkit::yunxin::{conv, YunxinClient};
use switchboard_testkit::{spawn_app, spawn_app_with, Options, Seed};

const BOUNDARY: &str = "sbFilesBoundary7MA4YWxkTrZu0gW";

/// A PNG signature and `n` bytes of a pattern.
fn png(n: usize) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
    b.extend((0..n).map(|i| (i * 7 % 256) as u8));
    b
}

/// One form part: name, file name (for file parts), content type, value.
type Part<'a> = (&'a str, Option<&'a str>, Option<&'a str>, &'a [u8]);

fn form(parts: &[Part]) -> Vec<u8> {
    let mut body = Vec::new();
    for (name, filename, ct, value) in parts {
        body.extend(
            format!("--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{name}\"").bytes(),
        );
        if let Some(f) = filename {
            body.extend(format!("; filename=\"{f}\"").bytes());
        }
        body.extend(b"\r\n");
        if let Some(ct) = ct {
            body.extend(format!("Content-Type: {ct}\r\n").bytes());
        }
        body.extend(b"\r\n");
        body.extend_from_slice(value);
        body.extend(b"\r\n");
    }
    body.extend(format!("--{BOUNDARY}--\r\n").bytes());
    body
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }
    fn code(&self) -> i64 {
        self.json()["code"].as_i64().unwrap_or(-1)
    }
    fn header(&self, name: reqwest::header::HeaderName) -> Vec<u8> {
        self.headers
            .get(name)
            .map(|v| v.as_bytes().to_vec())
            .unwrap_or_default()
    }
}

async fn answer(r: reqwest::RequestBuilder) -> Answer {
    let r = r.send().await.expect("request");
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
        bytes: r.bytes().await.expect("body").to_vec(),
    }
}

async fn post_form(lark: &Lark<'_>, what: &str, body: Vec<u8>) -> Answer {
    answer(
        lark.app
            .http
            .post(lark.app.url(&format!("/open-apis/im/v1/{what}")))
            .bearer_auth(&lark.token)
            .header(
                CONTENT_TYPE,
                format!("multipart/form-data; boundary={BOUNDARY}"),
            )
            .body(body),
    )
    .await
}

async fn get(lark: &Lark<'_>, path: &str) -> Answer {
    answer(
        lark.app
            .http
            .get(lark.app.url(&format!("/open-apis/im/v1{path}")))
            .bearer_auth(&lark.token),
    )
    .await
}

async fn upload_image(lark: &Lark<'_>, bytes: &[u8]) -> String {
    let a = post_form(
        lark,
        "images",
        form(&[
            ("image_type", None, None, b"message"),
            ("image", Some("a.png"), Some("image/png"), bytes),
        ]),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (200, 0),
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    a.json()["data"]["image_key"].as_str().unwrap().to_string()
}

async fn upload_file(lark: &Lark<'_>, name: &str, bytes: &[u8]) -> String {
    let a = post_form(
        lark,
        "files",
        form(&[
            ("file_type", None, None, b"pdf"),
            ("file_name", None, None, name.as_bytes()),
            ("file", Some(name), None, bytes),
        ]),
    )
    .await;
    assert_eq!(
        (a.status, a.code()),
        (200, 0),
        "{}",
        String::from_utf8_lossy(&a.bytes)
    );
    a.json()["data"]["file_key"].as_str().unwrap().to_string()
}

fn oc(chat: &Value) -> String {
    lark_ids::chat_id(ChatId(chat["id"].as_i64().unwrap()))
}

fn tenant(seed: &Seed) -> TenantId {
    TenantId(seed.tenant["id"].as_i64().unwrap())
}

async fn send(lark: &Lark<'_>, chat: &Value, msg_type: &str, content: Value) -> String {
    let r = lark.send(&oc(chat), msg_type, content).await;
    assert_eq!(r.body["code"], 0, "send: {}", r.text);
    r.body["data"]["message_id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn images_and_files_round_trip_byte_for_byte() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let bot = Lark::login(&app, &s, Face::Feishu).await;

    let img = png(5000);
    let key = upload_image(&bot, &img).await;
    assert!(key.starts_with("img_v3_"), "{key}");
    let a = get(&bot, &format!("/images/{key}")).await;
    assert_eq!(a.status, 200);
    assert!(a.bytes == img, "the image comes back byte for byte");
    assert_eq!(a.header(CONTENT_TYPE), b"image/png");
    let disposition = String::from_utf8(a.header(CONTENT_DISPOSITION)).unwrap();
    assert!(
        disposition.starts_with("attachment; filename="),
        "{disposition}"
    );

    // Over one SQLite chunk, with a name outside ASCII: the name goes out as UTF-8.
    let doc: Vec<u8> = (0..(1 << 20) + 4321).map(|i| (i % 241) as u8).collect();
    let key = upload_file(&bot, "报告 \"final\".pdf", &doc).await;
    assert!(key.starts_with("file_v3_"), "{key}");
    let a = get(&bot, &format!("/files/{key}")).await;
    assert_eq!(a.status, 200);
    assert!(
        a.bytes == doc,
        "{} bytes back of {}",
        a.bytes.len(),
        doc.len()
    );
    assert_eq!(a.header(CONTENT_TYPE), b"application/pdf");
    assert_eq!(
        String::from_utf8(a.header(CONTENT_DISPOSITION)).unwrap(),
        "attachment; filename=\"报告 \\\"final\\\".pdf\"; \
         filename*=UTF-8''%E6%8A%A5%E5%91%8A%20%22final%22%2Epdf"
    );
    // An avatar is stored, but Feishu serves no avatar download.
    let a = post_form(
        &bot,
        "images",
        form(&[
            ("image_type", None, None, b"avatar"),
            ("image", None, None, &png(64)),
        ]),
    )
    .await;
    assert_eq!(a.code(), 0, "{}", String::from_utf8_lossy(&a.bytes));
    let avatar = a.json()["data"]["image_key"].as_str().unwrap().to_string();
    assert_eq!(get(&bot, &format!("/images/{avatar}")).await.code(), 234001);
    // An image key is not a file key, and a made-up key names nothing.
    let img_key = upload_image(&bot, &png(10)).await;
    assert_eq!(get(&bot, &format!("/files/{img_key}")).await.code(), 234001);
    assert_eq!(get(&bot, "/images/img_v3_nonsense").await.code(), 234001);
}

#[tokio::test]
async fn message_resources_are_for_members_and_referenced_keys_only() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let bot = Lark::login(&app, &s, Face::Feishu).await;
    let peer_app = app.create_app(&s.tenant, "Peer").await;
    let outsider_app = app.create_app(&s.tenant, "Outsider").await;
    let chat = app
        .create_chat(
            &s.tenant,
            "group",
            Some("Files"),
            ("user", &s.alice["id"]),
            &[("app", &s.bot["id"]), ("app", &peer_app["id"])],
        )
        .await;
    let peer = Lark::login_as(&app, &peer_app, Face::Feishu).await;
    let outsider = Lark::login_as(&app, &outsider_app, Face::Feishu).await;

    let img = png(3000);
    let key = upload_image(&bot, &img).await;
    let unsent = upload_image(&bot, &png(3001)).await;
    let doc = b"%PDF-1.7 a small document".to_vec();
    let file_key = upload_file(&bot, "small.pdf", &doc).await;
    let om = send(&bot, &chat, "image", json!({ "image_key": key })).await;
    let om_file = send(&bot, &chat, "file", json!({ "file_key": file_key })).await;

    // A member who did not upload it reads it through the message.
    let a = get(&peer, &format!("/messages/{om}/resources/{key}?type=image")).await;
    assert_eq!(a.status, 200, "{}", String::from_utf8_lossy(&a.bytes));
    assert!(a.bytes == img);
    assert_eq!(a.header(CONTENT_TYPE), b"image/png");
    let a = get(
        &peer,
        &format!("/messages/{om_file}/resources/{file_key}?type=file"),
    )
    .await;
    assert_eq!((a.status, a.bytes.clone()), (200, doc.clone()));
    // ... but not by key alone: only the uploader may.
    let a = get(&peer, &format!("/images/{key}")).await;
    assert_eq!((a.status, a.code()), (400, 234008));
    // A key the message does not reference.
    let a = get(
        &peer,
        &format!("/messages/{om}/resources/{unsent}?type=image"),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, 234003));
    let a = get(
        &peer,
        &format!("/messages/{om}/resources/{file_key}?type=file"),
    )
    .await;
    assert_eq!(a.code(), 234003);
    // Not a member of the chat.
    let a = get(
        &outsider,
        &format!("/messages/{om}/resources/{key}?type=image"),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, 234004));
    assert_ne!(a.bytes, img);
    // `type` is required, and is image or file.
    assert_eq!(
        get(&peer, &format!("/messages/{om}/resources/{key}"))
            .await
            .code(),
        234001
    );
    assert_eq!(
        get(&peer, &format!("/messages/{om}/resources/{key}?type=video"))
            .await
            .code(),
        234001
    );
    assert_eq!(
        get(
            &peer,
            &format!("/messages/om_bad/resources/{key}?type=image")
        )
        .await
        .code(),
        234001
    );
    // A recalled message's resources are gone with it.
    let r = bot
        .call(reqwest::Method::DELETE, &format!("/messages/{om}"), None)
        .await;
    assert_eq!(r.body["code"], 0, "{}", r.text);
    let a = get(&peer, &format!("/messages/{om}/resources/{key}?type=image")).await;
    assert_eq!(a.status, 400);
    assert_ne!(a.code(), 0);
}

#[tokio::test]
async fn another_tenants_keys_and_messages_are_not_found() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let bot = Lark::login(&app, &s, Face::Feishu).await;
    let key = upload_image(&bot, &png(100)).await;
    let om = send(&bot, &s.group, "image", json!({ "image_key": key })).await;

    let other = app.create_tenant("Other").await;
    let stranger_app = app.create_app(&other, "Stranger").await;
    let stranger = Lark::login_as(&app, &stranger_app, Face::Feishu).await;
    let a = get(&stranger, &format!("/images/{key}")).await;
    assert_eq!(
        (a.status, a.code()),
        (400, 234001),
        "not found, not 'not yours'"
    );
    let a = get(
        &stranger,
        &format!("/messages/{om}/resources/{key}?type=image"),
    )
    .await;
    assert_eq!((a.status, a.code()), (400, 234001));
    assert!(!String::from_utf8_lossy(&a.bytes).contains("PNG"));
}

#[tokio::test]
async fn refused_uploads_answer_feishu_codes_and_leave_no_row() {
    let app = spawn_app_with(Options {
        configure: Some(Box::new(|c| {
            c.files.max_image_bytes = 2048;
            c.files.max_file_bytes = 4096;
        })),
        ..Options::default()
    })
    .await;
    let s = app.seed().await;
    let bot = Lark::login(&app, &s, Face::Feishu).await;
    let image = |ty: &'static [u8], bytes: Vec<u8>| {
        form(&[
            ("image_type", None, None, ty),
            ("image", Some("x.png"), None, &bytes),
        ])
    };
    let file = |ty: &'static [u8], name: &'static [u8], bytes: Vec<u8>| {
        form(&[
            ("file_type", None, None, ty),
            ("file_name", None, None, name),
            ("file", Some("x"), None, &bytes),
        ])
    };
    let mut truncated = image(b"message", png(500));
    truncated.truncate(truncated.len() - 200);
    let cases: Vec<(&str, &str, Vec<u8>, i64)> = vec![
        (
            "oversize image",
            "images",
            image(b"message", png(2041)),
            234006,
        ),
        (
            "oversize file",
            "files",
            file(b"pdf", b"a.pdf", vec![1; 4097]),
            234006,
        ),
        (
            "beyond the body limit",
            "files",
            file(b"pdf", b"a.pdf", vec![1; 200 << 10]),
            234006,
        ),
        (
            "not an image",
            "images",
            image(b"message", b"%PDF-1.7 not an image".to_vec()),
            234011,
        ),
        ("empty image", "images", image(b"message", vec![]), 234010),
        (
            "empty file",
            "files",
            file(b"stream", b"a.bin", vec![]),
            234010,
        ),
        ("truncated", "images", truncated, 234001),
        (
            "unknown image_type",
            "images",
            image(b"banner", png(10)),
            234001,
        ),
        (
            "unknown file_type",
            "files",
            file(b"exe", b"a.exe", vec![1; 10]),
            234001,
        ),
        (
            "no image_type",
            "images",
            form(&[("image", Some("x.png"), None, &png(10))]),
            234001,
        ),
        (
            "no image",
            "images",
            form(&[("image_type", None, None, b"message")]),
            234001,
        ),
        (
            "no file_name",
            "files",
            form(&[
                ("file_type", None, None, b"pdf"),
                ("file", Some("x"), None, b"abc"),
            ]),
            234001,
        ),
        (
            "bad duration",
            "files",
            form(&[
                ("file_type", None, None, b"mp4"),
                ("file_name", None, None, b"v.mp4"),
                ("duration", None, None, b"long"),
                ("file", Some("v.mp4"), None, b"abc"),
            ]),
            234001,
        ),
    ];
    for (what, path, body, code) in cases {
        let a = post_form(&bot, path, body).await;
        assert_eq!(
            (a.status, a.code()),
            (400, code),
            "{what}: {}",
            String::from_utf8_lossy(&a.bytes)
        );
        assert!(
            a.json()["error"]["log_id"].is_string(),
            "{what}: Feishu's envelope"
        );
    }
    // Not multipart at all.
    let r = bot
        .call(
            reqwest::Method::POST,
            "/images",
            Some(json!({ "image_type": "message" })),
        )
        .await;
    assert_eq!(r.body["code"], 234001, "{}", r.text);
    let t = tenant(&s);
    assert!(
        app.core.list_files(t, 100).await.unwrap().is_empty(),
        "no refused upload left a row"
    );
    // At the limit it goes through.
    upload_image(&bot, &png(2040)).await;
    assert_eq!(app.core.list_files(t, 100).await.unwrap().len(), 1);
}

#[tokio::test]
async fn uploads_need_the_resource_scope_and_bot_ability() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let path = format!("/tenants/{}/apps/{}", s.tenant["id"], s.bot["id"]);
    let bot = Lark::login(&app, &s, Face::Feishu).await;
    let key = upload_image(&bot, &png(10)).await;
    app.admin_ok(
        reqwest::Method::PUT,
        &path,
        Some(json!({ "scopes": ["im:message"] })),
    )
    .await;
    let a = post_form(
        &bot,
        "images",
        form(&[
            ("image_type", None, None, b"message"),
            ("image", None, None, &png(10)),
        ]),
    )
    .await;
    assert_eq!((a.status, a.code()), (403, 99991672));
    // Downloading its own upload needs no scope.
    assert_eq!(get(&bot, &format!("/images/{key}")).await.status, 200);
    app.admin_ok(
        reqwest::Method::PUT,
        &path,
        Some(json!({ "bot_enabled": false })),
    )
    .await;
    let a = get(&bot, &format!("/images/{key}")).await;
    assert_eq!((a.status, a.code()), (400, 234007));
}

/// The WPS and Yunxin renders of a message sent through Feishu with an uploaded image
/// name the same key, and Yunxin's `url` downloads it (signed as any Yunxin call is).
#[tokio::test]
async fn an_image_sent_through_feishu_is_the_same_key_in_wps_and_yunxin() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let bot = Lark::login(&app, &s, Face::Feishu).await;
    let img = png(777);
    let key = upload_image(&bot, &img).await;
    let om = send(&bot, &s.group, "image", json!({ "image_key": key })).await;
    let id: MessageId = lark_ids::parse_message_id(&om).unwrap();
    let doc = b"%PDF-1.4 cross".to_vec();
    let file_key = upload_file(&bot, "cross.pdf", &doc).await;
    let om_file = send(&bot, &s.group, "file", json!({ "file_key": file_key })).await;
    let file_id = lark_ids::parse_message_id(&om_file).unwrap();

    // WPS: the image's storage_key, and the file as a local file with its storage_key.
    let wps = WpsClient::for_seed(&app, &s).await;
    let group = wps_id(&s.group);
    let r = wps
        .get_message(&app, &group, &switchboard_dialect_wps::ids::message_id(id))
        .await;
    assert_eq!(r.body["code"], 0, "{}", r.text);
    let image = &r.body["data"]["content"]["image"];
    assert_eq!(image["storage_key"], key.as_str(), "{}", r.text);
    // The stored file's type and size fill what the Feishu content left out.
    assert_eq!(
        (image["type"].as_str(), image["size"].as_i64()),
        (Some("image/png"), Some(785))
    );
    let r = wps
        .get_message(
            &app,
            &group,
            &switchboard_dialect_wps::ids::message_id(file_id),
        )
        .await;
    let local = &r.body["data"]["content"]["file"]["local"];
    assert_eq!(local["storage_key"], file_key.as_str(), "{}", r.text);
    assert_eq!(
        (local["name"].as_str(), local["size"].as_i64()),
        (Some("cross.pdf"), Some(14))
    );

    // WPS's resource download serves the same bytes, to a member, for a key the message
    // names; under another chat, or for a key it does not name, it is not found.
    let wps_get = |uri: String| {
        let signed = wps.build("GET", &uri, "", vec![]);
        let mut req = app.http.get(app.url(&uri));
        for (k, v) in &signed.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        answer(req)
    };
    let resource = |chat: &str, m: switchboard_core::ids::MessageId, k: &str| {
        format!(
            "/v7/chats/{chat}/messages/{}/resources/{k}/download",
            switchboard_dialect_wps::ids::message_id(m)
        )
    };
    let a = wps_get(resource(&group, id, &key)).await;
    assert_eq!(a.status, 200);
    assert!(a.bytes == img, "WPS serves the uploaded bytes");
    assert_eq!(a.header(CONTENT_TYPE), b"image/png");
    let a = wps_get(resource(&group, file_id, &file_key)).await;
    assert_eq!(a.bytes, doc);
    let disposition = String::from_utf8(a.header(CONTENT_DISPOSITION)).unwrap();
    assert!(
        disposition.contains("filename*=UTF-8''cross%2Epdf"),
        "{disposition}"
    );
    let a = wps_get(resource(&group, id, &file_key)).await;
    assert_eq!(
        (a.status, a.code()),
        (404, 404_005),
        "a key the message does not name"
    );
    let other_group = app
        .create_chat(
            &s.tenant,
            "group",
            Some("Elsewhere"),
            ("user", &s.alice["id"]),
            &[("app", &s.bot["id"])],
        )
        .await;
    let a = wps_get(resource(&wps_id(&other_group), id, &key)).await;
    assert_eq!(a.status, 404, "under another chat");

    // Yunxin: the same key, and a url on this server.
    let yx = YunxinClient::new(&app, s.app_id(), s.app_secret());
    let team = conv("alice", 2, s.group["id"].as_i64().unwrap());
    let r = yx.query(&team, id.0, "").await;
    assert_eq!(r.body["code"], 200, "{}", r.text);
    let att = &r.body["data"]["attachment"];
    assert_eq!(att["key"], key.as_str(), "{att}");
    assert_eq!(
        (att["ext"].as_str(), att["size"].as_i64()),
        (Some("png"), Some(785)),
        "{att}"
    );
    let url = att["url"].as_str().expect("a url").to_string();
    assert_eq!(url, format!("/files/v1/messages/{}/{key}", id.0));
    let r = yx.query(&team, file_id.0, "").await;
    let file_att = &r.body["data"]["attachment"];
    assert_eq!(file_att["name"], "cross.pdf", "{file_att}");
    let file_url = file_att["url"].as_str().unwrap().to_string();
    assert!(file_url.ends_with(&file_key), "{file_url}");

    let fetch = |url: String, signed: bool| {
        let mut req = app.http.get(app.url(&url));
        if signed {
            for (k, v) in yx.sign().headers() {
                req = req.header(k, v);
            }
        }
        answer(req)
    };
    let a = fetch(url.clone(), true).await;
    assert_eq!(a.status, 200);
    assert!(a.bytes == img, "the url serves the uploaded bytes");
    assert_eq!(a.header(CONTENT_TYPE), b"image/png");
    let a = fetch(file_url, true).await;
    assert_eq!(a.bytes, doc);
    // Unsigned: Yunxin's auth failure. A key the message does not name: not found.
    let a = fetch(url.clone(), false).await;
    assert_eq!((a.status, a.code()), (200, 414));
    let a = fetch(format!("/files/v1/messages/{}/{file_key}", id.0), true).await;
    assert_eq!(a.code(), 404);
    // Another tenant's app, signed correctly, does not see it.
    let other = app.create_tenant("Other").await;
    let stranger = app.create_app(&other, "Stranger").await;
    let yx2 = YunxinClient::new(
        &app,
        stranger["app_id"].as_str().unwrap(),
        stranger["app_secret"].as_str().unwrap(),
    );
    let mut req = app.http.get(app.url(&url));
    for (k, v) in yx2.sign().headers() {
        req = req.header(k, v);
    }
    let a = answer(req).await;
    assert_eq!(a.status, 200);
    assert_ne!(a.code(), 200);
    assert_ne!(a.bytes, img);
}
