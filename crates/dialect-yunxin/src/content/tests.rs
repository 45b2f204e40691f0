use super::*;
use serde_json::{json, Value};
use switchboard_core::ids::UserId;
use switchboard_core::model::{MentionTarget, MessageType};

fn bob() -> MentionRef {
    MentionRef {
        target: MentionTarget::User(UserId(2)),
        name: "Bob".into(),
        aliases: vec!["Bob".into(), "bob".into()],
    }
}

#[test]
fn type_numbers_round_trip() {
    for n in [0, 1, 2, 3, 4, 5, 6, 10, 11, 100] {
        assert_eq!(type_number(kind_of(n).unwrap()), n);
    }
    assert_eq!(kind_of(7), None);
    for k in MessageType::ALL {
        assert!(kind_of(type_number(k)).is_some(), "{k:?}");
    }
}

#[test]
fn mentions_both_ways() {
    let all = MentionRef {
        target: MentionTarget::All,
        name: "all".into(),
        aliases: vec!["all".into()],
    };
    let marked = mark_mentions("hi @Bob and @all, @Bob again", &[bob(), all]);
    assert_eq!(
        marked,
        "hi <at id=\"1\">Bob</at> and <at id=\"2\">all</at>, @Bob again"
    );
    assert_eq!(
        unmark_mentions(&marked, |k| k.to_string()),
        "hi @Bob and @all, @Bob again"
    );
    assert_eq!(mark_mentions("no at here", &[bob()]), "no at here");
    assert_eq!(
        unmark_mentions("<at id=\"7\"></at> x", |k| format!("#{k}")),
        "@#7 x"
    );
    assert_eq!(
        unmark_mentions("a <at id=\"1\">broken", |k| k.to_string()),
        "a <at id=\"1\">broken"
    );
}

#[test]
fn incoming_validates_per_type() {
    let ok = |v: Value| incoming(&v, None, &[], MAX_TEXT);
    let d = ok(json!({"message_type": 0, "text": "hi @Bob"})).unwrap();
    assert_eq!(d.kind, MessageType::Text);
    assert_eq!(
        d.content.original.as_ref().unwrap().value.to_value()["message"]["text"],
        "hi @Bob"
    );
    let d = ok(json!({"message_type": 1, "attachment": {"url": "https://x/y.png", "w": 10, "h": 20, "md5": "m", "extra_key": 1}})).unwrap();
    assert_eq!(d.content.data.to_value()["width"], 10);
    assert_eq!(d.content.data.to_value()["extra"]["extra_key"], 1);
    let d = ok(json!({"message_type": 100, "sub_type": 3, "attachment": {"a": [1]}})).unwrap();
    assert_eq!((d.kind, d.sub_type), (MessageType::Custom, Some(3)));
    assert!(ok(
        json!({"message_type": 4, "attachment": {"lat": 30.1, "lng": 120.2, "title": "here"}})
    )
    .is_ok());
    for bad in [
        json!({"text": "x"}),
        json!({"message_type": 7, "text": "x"}),
        json!({"message_type": 5, "attachment": {}}),
        json!({"message_type": 0}),
        json!({"message_type": 0, "text": "x".repeat(5001)}),
        json!({"message_type": 1, "attachment": {"w": 1}}),
        json!({"message_type": 1, "attachment": "{\"url\":\"x\"}"}),
        json!({"message_type": 1, "attachment": {"url": "u", "w": "wide"}}),
        json!({"message_type": 4, "attachment": {"lat": 91, "lng": 0}}),
        json!({"message_type": 100}),
        json!({"message_type": "zero", "text": "x"}),
        json!({"message_type": 0, "text": "x", "message_client_id": ""}),
        json!({"message_type": 100, "sub_type": -1, "attachment": {}}),
        json!("text"),
    ] {
        let e = ok(bad.clone()).unwrap_err();
        assert_eq!(e.code, 414, "{bad}: {e:?}");
    }
    assert_eq!(
        incoming(
            &json!({"message_type": 1, "text": "d".repeat(501), "attachment": {"url": "u"}}),
            None,
            &[],
            MAX_DESCRIPTION
        )
        .unwrap_err()
        .code,
        414
    );
}
