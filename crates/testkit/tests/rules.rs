//! The domain's rules through `Core` itself, whichever API calls it: a message to a party
//! is validated before its p2p chat exists, a group's owner stays, who may change a group's
//! membership, and who may edit another's message.

use serde_json::{json, Value};
use switchboard_core::error::{Conflict, Denied, Error};
use switchboard_core::ids::{AppId, ChatId, TenantId, UserId};
use switchboard_core::model::{Actor, Content, MessageType, Role};
use switchboard_core::service::{Access, Edit, Recipient, Send};
use switchboard_core::Core;
use switchboard_testkit::{spawn_app, Seed};

fn num(v: &Value) -> i64 {
    v["id"].as_i64().expect("canonical id")
}

fn text(s: &str) -> Content {
    Content {
        text: s.to_string(),
        data: json!({ "text": s }).into(),
        original: None,
    }
}

struct World {
    core: Core,
    tenant: TenantId,
    group: ChatId,
    alice: Actor,
    bob: Actor,
    bot: Actor,
}

fn world(core: &Core, s: &Seed) -> World {
    World {
        core: core.clone(),
        tenant: TenantId(num(&s.tenant)),
        group: ChatId(num(&s.group)),
        alice: Actor::User(UserId(num(&s.alice))),
        bob: Actor::User(UserId(num(&s.bob))),
        bot: Actor::App(AppId(num(&s.bot))),
    }
}

#[tokio::test]
async fn a_message_to_a_party_is_checked_before_its_p2p_chat_is_created() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let w = world(&app.core, &s);
    let too_big = "x".repeat(w.core.config().max_content_bytes + 1);
    let e = w
        .core
        .send(Send::new(
            w.tenant,
            Recipient::Direct(w.bob),
            w.bot,
            MessageType::Text,
            text(&too_big),
        ))
        .await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "content",
                ..
            })
        ),
        "{e:?}"
    );
    let mut bad_key = Send::new(
        w.tenant,
        Recipient::Direct(w.bob),
        w.bot,
        MessageType::Text,
        text("hi"),
    );
    bad_key.client_msg_id = Some(String::new());
    assert!(w.core.send(bad_key).await.is_err());
    assert!(
        w.core
            .find_p2p(w.tenant, w.bot, w.bob)
            .await
            .unwrap()
            .is_none(),
        "a refused message leaves no chat behind"
    );

    let sent = w
        .core
        .send(Send::new(
            w.tenant,
            Recipient::Direct(w.bob),
            w.bot,
            MessageType::Text,
            text("hi"),
        ))
        .await
        .unwrap();
    let p2p = w.core.find_p2p(w.tenant, w.bot, w.bob).await.unwrap();
    assert_eq!(p2p.map(|c| c.id), Some(sent.chat.id));
    assert_eq!(sent.message.chat, sent.chat.id);
    // The second message to the same party lands in the same chat.
    let again = w
        .core
        .send(Send::new(
            w.tenant,
            Recipient::Direct(w.bob),
            w.bot,
            MessageType::Text,
            text("again"),
        ))
        .await
        .unwrap();
    assert_eq!(again.chat.id, sent.chat.id);
    // Imports go into chats only.
    let e = w
        .core
        .import(
            w.tenant,
            vec![(
                Send::new(
                    w.tenant,
                    Recipient::Direct(w.bob),
                    w.bot,
                    MessageType::Text,
                    text("x"),
                ),
                None,
            )],
        )
        .await;
    assert!(matches!(e, Err(Error::Invalid { .. })), "{e:?}");
}

#[tokio::test]
async fn the_owner_stays_and_only_managers_change_membership() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let w = world(&app.core, &s);
    let chat = w.core.chat(w.tenant, w.group).await.unwrap();
    assert_eq!(chat.owner, w.alice);

    // The owner cannot be removed, whoever asks; nobody is removed with it.
    for by in [Access::Admin, Access::Member(w.alice)] {
        let e = w
            .core
            .remove_members_by(w.tenant, w.group, by, vec![w.bob, w.alice])
            .await;
        assert!(
            matches!(e, Err(Error::Conflict(Conflict::OwnerStays))),
            "{e:?}"
        );
    }
    assert!(matches!(
        switchboard_core::Core::check_removable(&chat, w.alice),
        Err(Error::Conflict(Conflict::OwnerStays))
    ));
    assert!(switchboard_core::Core::check_removable(&chat, w.bob).is_ok());
    assert_eq!(w.core.members(w.tenant, w.group).await.unwrap().len(), 3);

    // A plain member may not change membership; a non-member is not a member.
    let carol = app.create_user(&s.tenant, "Carol", "carol").await;
    let carol = Actor::User(UserId(num(&carol)));
    let e = w
        .core
        .add_members_by(w.tenant, w.group, Access::Member(w.bob), vec![carol])
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotChatAdmin))),
        "{e:?}"
    );
    let e = w
        .core
        .add_members_by(w.tenant, w.group, Access::Member(carol), vec![carol])
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );
    assert!(matches!(
        w.core.check_manager(&chat, w.bob).await,
        Err(Error::Forbidden(Denied::NotChatAdmin))
    ));

    // An admin may, as may the owner.
    w.core
        .set_member_role(w.tenant, w.group, w.bob, Role::Admin)
        .await
        .unwrap();
    let added = w
        .core
        .add_members_by(w.tenant, w.group, Access::Member(w.bob), vec![carol])
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
    let removed = w
        .core
        .remove_members_by(w.tenant, w.group, Access::Member(w.alice), vec![carol])
        .await
        .unwrap();
    assert_eq!(removed, vec![carol]);
}

#[tokio::test]
async fn a_group_owner_or_admin_may_edit_anothers_message_when_the_policy_allows() {
    let app = spawn_app().await;
    let s = app.seed().await;
    let w = world(&app.core, &s);
    let by_bot = w
        .core
        .send(Send::new(
            w.tenant,
            w.group,
            w.bot,
            MessageType::Text,
            text("mine"),
        ))
        .await
        .unwrap()
        .message
        .id;
    let edit = |actor: Actor, sender_only: bool| Edit {
        tenant: w.tenant,
        actor,
        id: by_bot,
        kind: MessageType::Text,
        content: text("edited"),
        mentions: vec![],
        editable: &[],
        sender_only,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    // Sender only: even the owner is refused.
    let e = w.core.edit(edit(w.alice, true)).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotSender))),
        "{e:?}"
    );
    // Sender or a manager: a plain member is refused, the owner may.
    let e = w.core.edit(edit(w.bob, false)).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotChatAdmin))),
        "{e:?}"
    );
    let v = w.core.edit(edit(w.alice, false)).await.unwrap();
    assert_eq!(v.message.content.text, "edited");

    // In a p2p chat only the sender may edit, whatever the policy.
    let p2p = ChatId(num(&s.p2p));
    let in_p2p = w
        .core
        .send(Send::new(
            w.tenant,
            p2p,
            w.bot,
            MessageType::Text,
            text("p2p"),
        ))
        .await
        .unwrap()
        .message
        .id;
    let e = w
        .core
        .edit(Edit {
            id: in_p2p,
            ..edit(w.alice, false)
        })
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotSender))),
        "{e:?}"
    );
}

/// A Lark handler's domain refusal reads as its endpoint words it (the operation is stated
/// once per handler, never per call), in the face's envelope, under the request's log id.
#[tokio::test]
async fn a_lark_refusal_reads_per_endpoint_in_either_face() {
    use reqwest::Method;
    use switchboard_dialect_lark::ids;
    use switchboard_testkit::lark::{Face, Lark};

    let app = spawn_app().await;
    let s = app.seed().await;
    let missing = ids::chat_id(ChatId(num(&s.group) + 1_000_000));
    let group = ids::chat_id(ChatId(num(&s.group)));
    let alice = ids::open_id(UserId(num(&s.alice)), AppId(num(&s.bot)));
    for face in Face::BOTH {
        let lark = Lark::login(&app, &s, face).await;
        let sent = lark.send(&missing, "text", json!({ "text": "hi" })).await;
        let added = lark
            .call(
                Method::POST,
                &format!("/chats/{missing}/members?member_id_type=open_id"),
                Some(json!({ "id_list": [alice] })),
            )
            .await;
        for (r, ext) in [
            (&sent, "ext=receive_id not found"),
            (&added, "ext=chat_id not found"),
        ] {
            assert_eq!(r.status, reqwest::StatusCode::BAD_REQUEST, "{}", r.text);
            assert_eq!(r.body["code"], 230001, "{}", r.text);
            let msg = r.body["msg"].as_str().unwrap_or_default();
            assert!(msg.contains(ext), "{face:?}: {}", r.text);
            let logged = r.headers["x-tt-logid"].to_str().unwrap();
            let echoed = match face {
                Face::Hi => {
                    assert_eq!(r.body["success"], false, "{}", r.text);
                    &r.body["traceId"]
                }
                Face::Feishu => &r.body["error"]["log_id"],
            };
            assert_eq!(echoed.as_str(), Some(logged), "{}", r.text);
        }
        // A second recall: the domain says the message was already removed (230011).
        let id = lark.send_text(&group, "oops").await;
        let first = lark
            .call(Method::DELETE, &format!("/messages/{id}"), None)
            .await;
        assert_eq!(first.body["code"], 0, "{}", first.text);
        let again = lark
            .call(Method::DELETE, &format!("/messages/{id}"), None)
            .await;
        assert_eq!(again.status, reqwest::StatusCode::BAD_REQUEST);
        assert_eq!(again.body["code"], 230011, "{}", again.text);
    }
}
