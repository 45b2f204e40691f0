//! The use-case rules of [`Core`], over a real store.

use super::*;
use crate::clock::Clock;
use crate::error::{Conflict, Denied, Entity, Error, Window};

fn send(f: &Fixture, sender: Actor, s: &str) -> Send {
    Send::new(f.tenant.id, f.group.id, sender, MessageType::Text, text(s))
}

pub async fn rules_membership_and_tenancy(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let bot = Actor::App(f.bot.id);
    let m = f
        .core
        .send(send(&f, Actor::User(f.alice.id), "hi"))
        .await
        .unwrap();
    assert_eq!(m.message.position(), Some(1));
    assert!(matches!(&m.sender, Some(Party::User(u)) if u.id == f.alice.id));

    let got = f
        .core
        .get(
            f.tenant.id,
            Access::Member(bot),
            Some(f.group.id),
            m.message.id,
        )
        .await
        .unwrap();
    assert_eq!(got.message, m.message);
    assert_eq!(got.chat.id, f.group.id);
    // Wrong chat in the path: not found, even though the id exists.
    let other = f
        .core
        .create_chat(
            f.tenant.id,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("Other".into()),
                owner: bot,
                members: vec![],
            },
        )
        .await
        .unwrap();
    let e = f
        .core
        .get(
            f.tenant.id,
            Access::Member(bot),
            Some(other.id),
            m.message.id,
        )
        .await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Message))), "{e:?}");

    // An app that is not a member is refused.
    let outsider = f.core.create_app(f.tenant.id, "Outsider").await.unwrap();
    let e = f
        .core
        .get(
            f.tenant.id,
            Access::Member(Actor::App(outsider.id)),
            None,
            m.message.id,
        )
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );
    let e = f.core.send(send(&f, Actor::App(outsider.id), "x")).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );

    // Another tenant sees nothing, not even with admin access.
    let t2 = f.core.create_tenant("Other Co").await.unwrap();
    let e = f.core.get(t2.id, Access::Admin, None, m.message.id).await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
    let e = f.core.user(t2.id, f.alice.id).await;
    assert!(matches!(e, Err(Error::NotFound(Entity::User))));
    let e = f.core.app(t2.id, f.bot.id).await;
    assert!(matches!(e, Err(Error::NotFound(Entity::App))));
    // A chat cannot hold another tenant's user.
    let stranger = f
        .core
        .create_user(
            t2.id,
            CreateUser {
                name: "S".into(),
                user_id: None,
                account_id: None,
            },
        )
        .await
        .unwrap();
    let e = f
        .core
        .add_members(f.tenant.id, f.group.id, vec![Actor::User(stranger.id)])
        .await;
    assert!(matches!(e, Err(Error::NotFound(Entity::User))), "{e:?}");

    // p2p: only its two parties read it.
    let p2p = f
        .core
        .ensure_p2p(f.tenant.id, bot, Actor::User(f.bob.id))
        .await
        .unwrap();
    assert_eq!(
        f.core
            .ensure_p2p(f.tenant.id, Actor::User(f.bob.id), bot)
            .await
            .unwrap()
            .id,
        p2p.id,
        "created once"
    );
    let pm = f
        .core
        .send(Send::new(
            f.tenant.id,
            p2p.id,
            bot,
            MessageType::Text,
            text("dm"),
        ))
        .await
        .unwrap();
    assert!(f
        .core
        .get(f.tenant.id, Access::Member(bot), None, pm.message.id)
        .await
        .is_ok());
    let e = f
        .core
        .get(
            f.tenant.id,
            Access::Member(Actor::App(outsider.id)),
            None,
            pm.message.id,
        )
        .await;
    // The domain says the chat is a p2p chat: some APIs answer that apart.
    assert!(matches!(e, Err(Error::Forbidden(Denied::NotInP2p))));
    let e = f
        .core
        .add_members(f.tenant.id, p2p.id, vec![Actor::User(f.alice.id)])
        .await;
    assert!(
        matches!(e, Err(Error::Invalid { .. })),
        "p2p membership is fixed: {e:?}"
    );

    // Removing the bot from the group removes its read access at once.
    f.core
        .remove_members(f.tenant.id, f.group.id, vec![bot])
        .await
        .unwrap();
    let e = f
        .core
        .get(f.tenant.id, Access::Member(bot), None, m.message.id)
        .await;
    assert!(matches!(e, Err(Error::Forbidden(Denied::NotMember))));
}

pub async fn rules_reply_tree(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let alice = Actor::User(f.alice.id);
    let m1 = f.core.send(send(&f, alice, "m1")).await.unwrap().message;
    let mut r = send(&f, Actor::User(f.bob.id), "m2");
    r.reply_to = Some(m1.id);
    let m2 = f.core.send(r).await.unwrap().message;
    assert_eq!(
        (m2.parent, m2.root, m2.thread),
        (Some(m1.id), Some(m1.id), None)
    );
    let mut r = send(&f, alice, "m3");
    r.reply_to = Some(m2.id);
    let m3 = f.core.send(r).await.unwrap().message;
    assert_eq!((m3.parent, m3.root), (Some(m2.id), Some(m1.id)));
    // In a thread every reply answers the root.
    let mut r = send(&f, alice, "t1");
    r.reply_to = Some(m3.id);
    r.reply_in_thread = true;
    let t1 = f.core.send(r).await.unwrap().message;
    assert_eq!(
        (t1.parent, t1.root, t1.thread),
        (Some(m1.id), Some(m1.id), Some(m1.id))
    );
    let mut r = send(&f, alice, "t2");
    r.reply_to = Some(t1.id);
    let t2 = f.core.send(r).await.unwrap().message;
    assert_eq!(
        (t2.parent, t2.root, t2.thread),
        (Some(m1.id), Some(m1.id), Some(m1.id))
    );
    // A reply target in another chat is not found.
    let other = f
        .core
        .create_chat(
            f.tenant.id,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("O".into()),
                owner: alice,
                members: vec![],
            },
        )
        .await
        .unwrap();
    let mut r = Send::new(f.tenant.id, other.id, alice, MessageType::Text, text("x"));
    r.reply_to = Some(m1.id);
    assert!(matches!(
        f.core.send(r).await,
        Err(Error::NotFound(Entity::Message))
    ));
}

pub async fn rules_edit_limits(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let bot = Actor::App(f.bot.id);
    let m = f.core.send(send(&f, bot, "v0")).await.unwrap().message;
    let edit = |actor: Actor, s: &str| Edit {
        tenant: f.tenant.id,
        actor,
        id: m.id,
        kind: MessageType::Text,
        content: text(s),
        mentions: vec![],
        editable: &[MessageType::Text, MessageType::RichText],
        sender_only: true,
        max_edits: Some(3),
        window_ms: Some(86_400_000),
        min_interval_ms: None,
        extra: None,
    };
    let e = f.core.edit(edit(Actor::User(f.alice.id), "hijack")).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotSender))),
        "{e:?}"
    );
    f.clock.advance_ms(1_000);
    for i in 1..=3 {
        let v = f.core.edit(edit(bot, &format!("v{i}"))).await.unwrap();
        assert_eq!(v.message.edit.as_ref().unwrap().count, i);
        assert_eq!(v.message.updated_at, f.clock.now_ms());
    }
    let e = f.core.edit(edit(bot, "v4")).await;
    assert!(
        matches!(e, Err(Error::Conflict(Conflict::EditLimit))),
        "{e:?}"
    );
    let card = f
        .core
        .send(Send::new(
            f.tenant.id,
            f.group.id,
            bot,
            MessageType::Card,
            text("card"),
        ))
        .await
        .unwrap()
        .message;
    let e = f
        .core
        .edit(Edit {
            id: card.id,
            ..edit(bot, "x")
        })
        .await;
    assert!(
        matches!(e, Err(Error::Conflict(Conflict::WrongMessageType))),
        "{e:?}"
    );
    let fresh = f.core.send(send(&f, bot, "old")).await.unwrap().message;
    f.clock.advance_ms(86_400_001);
    let e = f
        .core
        .edit(Edit {
            id: fresh.id,
            ..edit(bot, "late")
        })
        .await;
    assert!(
        matches!(
            e,
            Err(Error::Conflict(Conflict::WindowPassed(Window::Edit)))
        ),
        "{e:?}"
    );
}

pub async fn rules_recall(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let bot = Actor::App(f.bot.id);
    let alice = Actor::User(f.alice.id); // group owner
    let bob = Actor::User(f.bob.id);
    let recall = |actor: Actor, id: MessageId| Recall {
        tenant: f.tenant.id,
        actor,
        id,
        kind: RemovalKind::Recalled,
        window_ms: Some(60_000),
        admin_window_ms: Some(None),
    };
    let m = f.core.send(send(&f, bot, "oops")).await.unwrap().message;
    let r = f.core.recall(recall(bot, m.id)).await.unwrap();
    assert_eq!(
        r.message.removal.as_ref().map(|x| (x.kind, x.by)),
        Some((RemovalKind::Recalled, bot))
    );
    let again = f.core.recall(recall(bot, m.id)).await;
    assert!(
        matches!(
            again,
            Err(Error::Conflict(Conflict::AlreadyRemoved(
                RemovalKind::Recalled
            )))
        ),
        "{again:?}"
    );
    // The recalled message stays readable, flagged.
    let got = f
        .core
        .get(f.tenant.id, Access::Member(bot), None, m.id)
        .await
        .unwrap();
    assert!(got.message.is_removed());

    let late = f.core.send(send(&f, bot, "late")).await.unwrap().message;
    f.clock.advance_ms(60_001);
    let e = f.core.recall(recall(bot, late.id)).await;
    assert!(
        matches!(
            e,
            Err(Error::Conflict(Conflict::WindowPassed(Window::Recall)))
        ),
        "{e:?}"
    );
    // A plain member cannot recall others' messages; the owner can, past the sender window.
    let e = f.core.recall(recall(bob, late.id)).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotChatAdmin))),
        "{e:?}"
    );
    assert!(f.core.recall(recall(alice, late.id)).await.is_ok());
    // Made an admin, bob may (the membership cache must not keep the old role).
    f.core
        .set_member_role(f.tenant.id, f.group.id, bob, Role::Admin)
        .await
        .unwrap();
    let by_admin = f
        .core
        .send(send(&f, alice, "admin-recallable"))
        .await
        .unwrap()
        .message;
    assert!(f.core.recall(recall(bob, by_admin.id)).await.is_ok());
    f.core
        .set_member_role(f.tenant.id, f.group.id, bob, Role::Member)
        .await
        .unwrap();
    let e = f
        .core
        .set_member_role(f.tenant.id, f.group.id, alice, Role::Member)
        .await;
    assert!(
        matches!(e, Err(Error::Invalid { .. })),
        "the owner's role is fixed: {e:?}"
    );
    // Where the dialect allows no admin recall, only the sender may.
    let other = f.core.send(send(&f, bob, "bob's")).await.unwrap().message;
    let e = f
        .core
        .recall(Recall {
            admin_window_ms: None,
            ..recall(alice, other.id)
        })
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotSender))),
        "{e:?}"
    );
}

pub async fn rules_merge_forward_and_forward(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let bot = Actor::App(f.bot.id);
    let alice = Actor::User(f.alice.id);
    let a = f.core.send(send(&f, alice, "a")).await.unwrap().message;
    let b = f
        .core
        .send(send(&f, Actor::User(f.bob.id), "b"))
        .await
        .unwrap()
        .message;
    let gone = f.core.send(send(&f, bot, "gone")).await.unwrap().message;
    f.core
        .recall(Recall {
            tenant: f.tenant.id,
            actor: bot,
            id: gone.id,
            kind: RemovalKind::Recalled,
            window_ms: None,
            admin_window_ms: None,
        })
        .await
        .unwrap();
    let target = f.core.ensure_p2p(f.tenant.id, bot, alice).await.unwrap();
    let missing = MessageId::timeline(f.group.id, 999).unwrap();
    let mf = f
        .core
        .merge_forward(MergeForward {
            tenant: f.tenant.id,
            actor: bot,
            target: target.id,
            ids: vec![a.id, b.id, gone.id, missing],
            title: None,
            client_msg_id: None,
        })
        .await
        .unwrap();
    assert_eq!(mf.container.message.kind, MessageType::MergeForward);
    assert_eq!(mf.container.message.chat, target.id);
    assert_eq!(mf.container.message.position(), Some(1));
    assert_eq!(mf.invalid, vec![gone.id, missing]);
    assert_eq!(
        mf.children
            .iter()
            .map(|c| c.copied_from)
            .collect::<Vec<_>>(),
        vec![Some(a.id), Some(b.id)]
    );
    assert_eq!(
        mf.children[1].sender,
        Actor::User(f.bob.id),
        "children keep their original sender"
    );
    let kids = f
        .core
        .children(f.tenant.id, Access::Member(alice), mf.container.message.id)
        .await
        .unwrap();
    assert_eq!(kids.len(), 2);
    assert!(kids
        .iter()
        .all(|k| k.message.upper == Some(mf.container.message.id)));
    let child = f
        .core
        .get(f.tenant.id, Access::Member(alice), None, kids[0].message.id)
        .await
        .unwrap();
    assert_eq!(child.message.content.text, "a");

    let fw = f
        .core
        .forward(f.tenant.id, bot, a.id, target.id, None)
        .await
        .unwrap();
    assert_eq!(fw.message.content, a.content);
    assert_eq!(fw.message.sender, bot);
    assert_eq!(fw.message.position(), Some(2));
    let e = f
        .core
        .forward(f.tenant.id, bot, gone.id, target.id, None)
        .await;
    assert!(
        matches!(e, Err(Error::Conflict(Conflict::MessageRemoved(_)))),
        "{e:?}"
    );
}

pub async fn rules_send_validation(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    let alice = Actor::User(f.alice.id);
    let mut s = send(&f, alice, "x");
    s.mentions = vec![
        Mention {
            key: "1".into(),
            target: MentionTarget::User(f.bob.id),
            name: "Bob".into(),
        },
        Mention {
            key: "1".into(),
            target: MentionTarget::All,
            name: String::new(),
        },
    ];
    assert!(matches!(
        f.core.send(s).await,
        Err(Error::Invalid {
            field: "mentions",
            ..
        })
    ));
    let mut s = send(&f, alice, "x");
    s.mentions = vec![Mention {
        key: "1".into(),
        target: MentionTarget::User(UserId(987_654)),
        name: String::new(),
    }];
    assert!(matches!(
        f.core.send(s).await,
        Err(Error::Invalid {
            field: "mentions",
            ..
        })
    ));
    let big = "x".repeat(f.core.config().max_content_bytes + 1);
    assert!(matches!(
        f.core.send(send(&f, alice, &big)).await,
        Err(Error::Invalid {
            field: "content",
            ..
        })
    ));
    let mut s = send(&f, alice, "x");
    s.client_msg_id = Some(String::new());
    assert!(matches!(
        f.core.send(s).await,
        Err(Error::Invalid {
            field: "client_msg_id",
            ..
        })
    ));
    f.core
        .dissolve_chat(f.tenant.id, f.group.id, None)
        .await
        .unwrap();
    assert!(matches!(
        f.core.send(send(&f, alice, "x")).await,
        Err(Error::Conflict(Conflict::ChatDissolved))
    ));
    let chat = f.core.chat(f.tenant.id, f.group.id).await.unwrap();
    assert_eq!(chat.last_position, 0, "no refused send wrote anything");

    // Idempotency through the use case.
    let t = f.core.create_tenant("T").await.unwrap();
    let u = f
        .core
        .create_user(
            t.id,
            CreateUser {
                name: "U".into(),
                user_id: None,
                account_id: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(u.user_id.len(), 12);
    assert_eq!(u.account_id, u.user_id);
    let c = f
        .core
        .create_chat(
            t.id,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("G".into()),
                owner: Actor::User(u.id),
                members: vec![],
            },
        )
        .await
        .unwrap();
    let mut s = Send::new(
        t.id,
        c.id,
        Actor::User(u.id),
        MessageType::Text,
        text("once"),
    );
    s.client_msg_id = Some("k".into());
    let a = f.core.send(s.clone()).await.unwrap();
    let b = f.core.send(s).await.unwrap();
    assert_eq!(a.message.id, b.message.id);
    assert_eq!(f.core.chat(t.id, c.id).await.unwrap().last_position, 1);

    // Validation of names and ids.
    assert!(matches!(
        f.core.create_tenant("  ").await,
        Err(Error::Invalid { field: "name", .. })
    ));
    let e = f
        .core
        .create_user(
            t.id,
            CreateUser {
                name: "U".into(),
                user_id: Some("a|b".into()),
                account_id: None,
            },
        )
        .await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "user_id",
                ..
            })
        ),
        "{e:?}"
    );
    let e = f
        .core
        .create_user(
            t.id,
            CreateUser {
                name: "U".into(),
                user_id: Some("alice".into()),
                account_id: None,
            },
        )
        .await;
    assert!(e.is_ok(), "same user_id in another tenant: {e:?}");
    let e = f
        .core
        .create_user(
            t.id,
            CreateUser {
                name: "U".into(),
                user_id: Some("alice".into()),
                account_id: Some("zz".into()),
            },
        )
        .await;
    assert!(
        matches!(e, Err(Error::Conflict(Conflict::Duplicate("user_id")))),
        "{e:?}"
    );
    let e = f
        .core
        .create_chat(
            t.id,
            CreateChat {
                kind: ChatKind::P2p,
                name: None,
                owner: Actor::User(u.id),
                members: vec![],
            },
        )
        .await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "members",
                ..
            })
        ),
        "{e:?}"
    );
}

pub async fn rules_list_access(store: Arc<dyn Store>) {
    let f = fixture(store).await;
    for i in 0..5 {
        f.core
            .send(send(&f, Actor::User(f.alice.id), &format!("m{i}")))
            .await
            .unwrap();
    }
    let q = ListQuery {
        tenant: f.tenant.id,
        access: Access::Member(Actor::App(f.bot.id)),
        chat: f.group.id,
        after_position: 2,
        before_position: None,
        since_ms: None,
        until_ms: None,
        limit: 2,
        descending: false,
    };
    let page = f.core.list(q).await.unwrap();
    assert_eq!(
        page.iter()
            .map(|v| v.message.position().unwrap())
            .collect::<Vec<_>>(),
        vec![3, 4]
    );
    let outsider = f.core.create_app(f.tenant.id, "O").await.unwrap();
    let e = f
        .core
        .list(ListQuery {
            access: Access::Member(Actor::App(outsider.id)),
            ..q
        })
        .await;
    assert!(matches!(e, Err(Error::Forbidden(Denied::NotMember))));
    let all = f
        .core
        .list(ListQuery {
            access: Access::Admin,
            after_position: 0,
            limit: 100_000,
            ..q
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 5, "limit is clamped, not rejected");
}
