use super::*;
use crate::error::{code, WResult};
use switchboard_core::content as canon;
use switchboard_core::model::{Content, MessageType};

fn convert(kind: MessageType, v: Value) -> WResult<Incoming> {
    incoming(kind, &v, &[], 5000)
}

#[test]
fn typed_forms_hold_their_bytes() {
    // Every typed form's exact output, escaping and edge cases included: the renderer is
    // held to `typed_forms.txt` (UPDATE_SNAPSHOTS=1 rewrites it; review the diff).
    let mut listing = String::new();
    let mut record = |ty: &str, out: &ContentOut, d: &Value| {
        listing.push_str(&format!(
            "{d}\n{ty} {}\n\n",
            serde_json::to_string(out).unwrap()
        ));
    };
    let rekey = |k: &str| (k == "a").then(|| "7".to_string());
    let datas = [
        json!({ "text": "plain words" }),
        json!({ "text": "quotes \" and \\ and \n newlines, \u{1} control, 中文 😀" }),
        json!({ "text": "hi <at id=\"a\">Al</at> and <at id=\"b\">Bo</at> <at id=\"" }),
        json!({ "text": "# title", "markdown": true }),
        json!({ "text": "off", "markdown": false, "other": [1, 2] }),
        json!({ "text": "" }),
    ];
    for d in datas {
        let c = Content {
            text: "fallback".into(),
            data: d.clone().into(),
            original: None,
        };
        let (ty, typed) = outgoing(MessageType::Text, &c, 5, &rekey, &[]);
        assert!(matches!(typed, ContentOut::Text { .. }), "{d}");
        record(ty, &typed, &d);
    }
    for d in [
        json!({ "card": { "header": { "title": "t" }, "elements": [1, "x", null] } }),
        json!({ "card": null, "other": 1 }),
    ] {
        let c = Content {
            text: "fallback".into(),
            data: d.clone().into(),
            original: None,
        };
        let (ty, typed) = outgoing(MessageType::Card, &c, 5, &rekey, &[]);
        assert!(matches!(typed, ContentOut::Keyed(..)), "{d}");
        record(ty, &typed, &d);
    }
    let looks = [MentionLook {
        wps_id: "1".into(),
        key: "k1".into(),
        identity: json!({ "company_id": "c", "id": "bob", "type": "user" }),
    }];
    for d in [
        json!({ "title": "T \"q\"", "paragraphs": [
            [{ "tag": "text", "text": "plain" }, { "tag": "a", "text": "details", "href": "https://e.x/1?a=b&c" }],
            [{ "tag": "text", "text": "b", "style": ["bold"] }, { "tag": "text", "text": "i", "style": ["italic", "bold"] },
             { "tag": "text", "text": "u", "style": ["underline"] }],
            [{ "tag": "at", "key": "k1", "name": "Bob" }, { "tag": "at", "key": "nobody" }, { "tag": "img", "key": "img_1" },
             { "tag": "emoji", "text": "smile" }, { "tag": "code_block", "text": "fn main() {}", "language": "rust" }, { "tag": "hr" }],
            []
        ] }),
        json!({ "paragraphs": [[{ "tag": "text", "text": "no title, 中文\n" }]] }),
        json!({ "paragraphs": [] }),
    ] {
        let c = Content {
            text: "fallback".into(),
            data: d.clone().into(),
            original: None,
        };
        for ls in [&looks[..], &[]] {
            let (ty, typed) = outgoing(MessageType::RichText, &c, 5, &rekey, ls);
            assert!(matches!(typed, ContentOut::RichText { .. }), "{d}");
            record(ty, &typed, &d);
        }
    }
    for (kind, d) in [
        (
            MessageType::Image,
            json!({ "key": "img_1", "width": 1280, "height": 720, "size": 5 }),
        ),
        (
            MessageType::Image,
            json!({ "key": "k", "name": "a.png", "format": "image/png", "cover_key": "t", "extra": { "thumbnail_type": "png", "other": 1 } }),
        ),
        (MessageType::Image, json!({ "url": "https://e.x/a.png" })),
        (MessageType::Image, json!({ "key": 5 })),
        (
            MessageType::Sticker,
            json!({ "key": "s", "cover_key": "t", "extra": { "thumbnail_type": "png" }, "width": 1 }),
        ),
        (
            MessageType::File,
            json!({ "key": "file_1", "name": "report.pdf", "size": 12 }),
        ),
        (MessageType::File, json!({ "key": "file_1" })),
        (MessageType::File, json!({ "key": [] })),
        (
            MessageType::Location,
            json!({ "title": "Office", "address": "1 \"Main\" St", "latitude": 31.2304, "longitude": -121.47 }),
        ),
        (
            MessageType::Location,
            json!({ "latitude": 0, "longitude": 1e-7 }),
        ),
    ] {
        let c = Content {
            text: "fallback".into(),
            data: d.clone().into(),
            original: None,
        };
        let (ty, typed) = outgoing(kind, &c, 5, &rekey, &[]);
        assert!(
            matches!(
                typed,
                ContentOut::Image { .. } | ContentOut::LocalFile(_) | ContentOut::Location(_)
            ),
            "{d}"
        );
        record(ty, &typed, &d);
    }
    // A file known only by its URL is a cloud file, rendered as before.
    let c = Content {
        text: "fallback".into(),
        data: json!({ "url": "https://e.x/f" }).into(),
        original: None,
    };
    let (_, out) = outgoing(MessageType::File, &c, 5, &rekey, &[]);
    assert_eq!(serde_json::to_value(&out).unwrap()["file"]["type"], "cloud");
    // A card without one falls back to the plain rendition, as before.
    let c = Content {
        text: "fallback".into(),
        data: json!({ "elements": [] }).into(),
        original: None,
    };
    let (ty, out) = outgoing(MessageType::Card, &c, 5, &rekey, &[]);
    assert_eq!(
        (ty, serde_json::to_value(&out).unwrap()),
        (
            "text",
            json!({ "text": { "content": "fallback", "type": "plain" } })
        )
    );
    // What `TextData` refuses falls back to the plain rendition, as before.
    for d in [
        json!({ "text": 5 }),
        json!({ "text": "x", "markdown": "yes" }),
        json!({ "text": "x", "markdown": null }),
        json!("text"),
        Value::Null,
    ] {
        let c = Content {
            text: "fallback".into(),
            data: d.clone().into(),
            original: None,
        };
        let (ty, out) = outgoing(MessageType::Text, &c, 5, &rekey, &[]);
        assert_eq!(ty, "text");
        assert_eq!(
            serde_json::to_value(&out).unwrap(),
            json!({ "text": { "content": "fallback", "type": "plain" } }),
            "{d}"
        );
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/src/content/typed_forms.txt");
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(path, &listing).unwrap();
    }
    let want = std::fs::read_to_string(path).unwrap_or_default();
    for (i, (got, want)) in listing.lines().zip(want.lines()).enumerate() {
        assert_eq!(got, want, "typed_forms.txt line {}", i + 1);
    }
    assert_eq!(
        listing.lines().count(),
        want.lines().count(),
        "typed_forms.txt length"
    );
}

#[test]
fn text_keeps_the_original_and_the_at_tags() {
    let v = json!({ "text": { "content": "hi <at id=\"1\">Bob</at>", "type": "markdown" } });
    let inc = convert(MessageType::Text, v.clone()).unwrap();
    assert_eq!(inc.content.text, "hi <at id=\"1\">Bob</at>");
    assert_eq!(
        inc.content.data,
        json!({ "text": "hi <at id=\"1\">Bob</at>", "markdown": true }).into()
    );
    assert_eq!(inc.content.original.as_ref().unwrap().value, v.into());
    assert_eq!(
        at_tags(&inc.content.text),
        vec![("1".to_string(), "Bob".to_string())]
    );
}

#[test]
fn content_key_must_match_type() {
    assert!(convert(
        MessageType::Text,
        json!({ "image": { "storage_key": "k" } })
    )
    .is_err());
    assert!(convert(
        MessageType::Text,
        json!({ "text": { "content": "a" }, "image": {} })
    )
    .is_err());
    assert!(convert(MessageType::Text, json!("text")).is_err());
    assert!(convert(MessageType::Text, json!({ "text": { "content": "" } })).is_err());
    assert!(convert(
        MessageType::Text,
        json!({ "text": { "content": "a", "type": "html" } })
    )
    .is_err());
}

#[test]
fn length_limit_counts_characters() {
    let ok = "字".repeat(5000);
    assert!(convert(MessageType::Text, json!({ "text": { "content": ok } })).is_ok());
    let long = "字".repeat(5001);
    assert_eq!(
        convert(MessageType::Text, json!({ "text": { "content": long } }))
            .unwrap_err()
            .code,
        code::CONTENT_TOO_LONG
    );
}

#[test]
fn media_types_convert_to_canonical() {
    let img = convert(MessageType::Image, json!({ "image": { "storage_key": "sk1", "type": "image/png", "width": 10, "height": 20, "size": 300, "thumbnail_storage_key": "t1", "thumbnail_type": "image/jpg" } })).unwrap();
    assert_eq!(img.content.data.to_value()["key"], "sk1");
    assert_eq!(img.content.data.to_value()["format"], "image/png");
    assert_eq!(img.content.data.to_value()["cover_key"], "t1");
    assert!(convert(MessageType::Image, json!({ "image": { "width": 10 } })).is_err());
    assert!(convert(
        MessageType::Image,
        json!({ "image": { "storage_key": "k", "width": "wide" } })
    )
    .is_err());
    let f = convert(MessageType::File, json!({ "file": { "type": "local", "local": { "name": "a.txt", "size": 3, "storage_key": "fk" } } })).unwrap();
    assert_eq!(f.content.data.to_value()["name"], "a.txt");
    assert!(convert(
        MessageType::File,
        json!({ "file": { "type": "cloud", "cloud": { "id": "1" } } })
    )
    .is_err());
    let a = convert(MessageType::Audio, json!({ "audio": { "storage_key": "ak", "media": { "codec": "amr", "duration": 3, "format": "wav", "sample_rate": 8000 } } })).unwrap();
    assert_eq!(a.content.data.to_value()["duration_ms"], 3000);
    assert_eq!(a.content.data.to_value()["extra"]["sample_rate"], 8000);
    let v = convert(MessageType::Video, json!({ "video": { "storage_key": "vk", "media": { "codec": "h.264", "cover_storage_key": "c", "duration": 5, "format": "mp4", "width": 640, "height": 480 } } })).unwrap();
    assert_eq!(v.content.data.to_value()["cover_key"], "c");
    assert!(
        convert(MessageType::Card, json!({ "card": { "config": {} } })).is_err(),
        "i18n_items is required"
    );
    let c = convert(
        MessageType::Card,
        json!({ "card": { "config": {}, "i18n_items": [] } }),
    )
    .unwrap();
    assert_eq!(c.content.data.to_value()["card"]["i18n_items"], json!([]));
}

#[test]
fn rich_text_paragraphs_and_mentions() {
    let v = json!({ "rich_text": { "elements": [
        { "type": "nl", "alt_text": "", "index": 0, "elements": [
            { "type": "text", "alt_text": "hi", "text_content": { "content": "hi ", "type": "plain" } },
            { "type": "mention", "alt_text": "@Bob", "mention_content": { "identity": { "id": "bob", "type": "user", "name": "Bob" }, "text": "@Bob" } }
        ] },
        { "type": "link", "alt_text": "x", "link_content": { "text": "docs", "url": "https://example.com" } }
    ] } });
    let inc = incoming(MessageType::RichText, &v, &["1".to_string()], 5000).unwrap();
    assert_eq!(inc.content.text, "hi @Bob\ndocs");
    assert_eq!(inc.inline_mentions.len(), 1);
    assert_eq!(
        inc.inline_mentions[0].id, "2",
        "keys continue after the request's mention ids"
    );
    assert!(convert(
        MessageType::RichText,
        json!({ "rich_text": { "elements": [] } })
    )
    .is_err());
    assert!(convert(
        MessageType::RichText,
        json!({ "rich_text": { "elements": [{ "type": "blink", "alt_text": "" }] } })
    )
    .is_err());
}

#[test]
fn rekeying_rewrites_only_tag_ids() {
    let s = "a <at id=\"@_user_1\">Bob</at> b <at id=\"x\">X</at>";
    let out = rekey_at_tags(s, &|k| (k == "@_user_1").then(|| "1".to_string()));
    assert_eq!(out, "a <at id=\"1\">Bob</at> b <at id=\"x\">X</at>");
}

#[test]
fn foreign_content_renders_from_canonical() {
    let c = canon::canonical(MessageType::Text, json!({ "text": "hello" })).unwrap();
    let (ty, v) = outgoing(MessageType::Text, &c, 0, &|_| None, &[]);
    assert_eq!(
        (ty, serde_json::to_value(&v).unwrap()),
        (
            "text",
            json!({ "text": { "content": "hello", "type": "plain" } })
        )
    );
    let c = canon::canonical(MessageType::ShareChat, json!({ "chat_id": 5 })).unwrap();
    assert_eq!(
        outgoing(MessageType::ShareChat, &c, 0, &|_| None, &[]).0,
        "text"
    );
    let c = canon::canonical(
        MessageType::Location,
        json!({ "latitude": 1.5, "longitude": 2.5, "title": "T" }),
    )
    .unwrap();
    let (ty, v) = outgoing(MessageType::Location, &c, 0, &|_| None, &[]);
    assert_eq!(ty, "location");
    assert_eq!(
        serde_json::to_value(&v).unwrap()["location"]["latitude"],
        1.5
    );
}
