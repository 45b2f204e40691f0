//! Changes: each write records its change with it, in seq order, and seqs are never reused.

use super::*;

pub async fn events_changes_follow_writes(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let bot = Actor::App(f.bot.id);
    // The fixture's group: its members other than the owner joined with it.
    let created = drain_changes(&store, "a").await;
    assert_eq!(created.len(), 1, "{created:?}");
    match &created[0].body {
        ChangeBody::MembersAdded { by, members } => {
            assert_eq!(*by, Some(alice));
            assert_eq!(members.len(), 2);
            assert!(members.contains(&bot) && members.contains(&Actor::User(f.bob.id)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(created[0].chat, f.group.id);
    assert_eq!(created[0].tenant, f.tenant.id);

    let mut cmd = send(&f, f.group.id, alice, "hello");
    cmd.client_msg_id = Some("k1".into());
    let m = f.core.send(cmd.clone()).await.unwrap().message;
    // The same send again returns the first: no second change.
    f.core.send(cmd).await.unwrap();
    let edit = crate::service::Edit {
        tenant: f.tenant.id,
        actor: alice,
        id: m.id,
        kind: MessageType::Text,
        content: text("hello again"),
        mentions: vec![],
        editable: &[],
        sender_only: true,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    };
    f.core.edit(edit).await.unwrap();
    let recall = crate::service::Recall {
        tenant: f.tenant.id,
        actor: alice,
        id: m.id,
        kind: RemovalKind::Recalled,
        window_ms: None,
        admin_window_ms: None,
    };
    f.core.recall(recall.clone()).await.unwrap();
    // A refused write records nothing.
    assert!(f.core.recall(recall).await.is_err());
    let carol = f
        .core
        .create_user(
            f.tenant.id,
            CreateUser {
                name: "Carol".into(),
                user_id: Some("carol".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();
    let by = Access::Member(alice);
    f.core
        .add_members_by(f.tenant.id, f.group.id, by, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    // Adding a member already present records nothing.
    f.core
        .add_members_by(f.tenant.id, f.group.id, by, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    f.core
        .remove_members_by(f.tenant.id, f.group.id, by, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    // Imported history is not news.
    store
        .append_batch(vec![new_text(f.tenant.id, f.group.id, alice, "old", 5)])
        .await
        .unwrap();
    f.core
        .dissolve_chat(f.tenant.id, f.group.id, Some(alice))
        .await
        .unwrap();

    let got = drain_changes(&store, "a").await;
    let kinds: Vec<&str> = got.iter().map(|c| c.body.kind()).collect();
    assert_eq!(
        kinds,
        [
            "message_created",
            "message_edited",
            "message_removed",
            "members_added",
            "members_removed",
            "chat_dissolved"
        ]
    );
    assert!(got.windows(2).all(|w| w[0].seq < w[1].seq), "seqs increase");
    match &got[0].body {
        ChangeBody::MessageCreated { message } => {
            assert_eq!(message.id, m.id);
            assert_eq!(message.content.text, "hello");
        }
        other => panic!("{other:?}"),
    }
    match &got[1].body {
        ChangeBody::MessageEdited { message } => assert_eq!(message.content.text, "hello again"),
        other => panic!("{other:?}"),
    }
    match &got[2].body {
        ChangeBody::MessageRemoved { message } => {
            assert_eq!(message.removal.as_ref().map(|r| r.by), Some(alice))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        got[3].body,
        ChangeBody::MembersAdded {
            by: Some(alice),
            members: vec![Actor::User(carol.id)]
        }
    );
    assert_eq!(
        got[4].body,
        ChangeBody::MembersRemoved {
            by: Some(alice),
            members: vec![Actor::User(carol.id)]
        }
    );
    assert_eq!(got[5].body, ChangeBody::ChatDissolved { by: Some(alice) });
    // Routed changes are gone.
    assert!(drain_changes(&store, "a").await.is_empty());
}

pub async fn events_every_write_records_its_change(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    let s = &*w.store;
    let bot = Actor::App(w.bot);
    // create_chat: everyone but the owner joined, by the owner.
    let cs = outbox_changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(
        (cs[0].tenant, cs[0].chat, cs[0].at),
        (w.tenant, w.group.id, 10)
    );
    assert_eq!(
        cs[0].body,
        ChangeBody::MembersAdded {
            by: Some(w.alice),
            members: vec![w.bob, bot]
        }
    );
    outbox_drain(s).await;
    // A chat of its owner alone records nothing.
    let solo = s
        .create_chat(NewChat {
            tenant: w.tenant,
            kind: ChatKind::Group,
            name: "solo".into(),
            owner: w.alice,
            members: vec![(w.alice, Role::Owner)],
            created_at: 11,
        })
        .await
        .unwrap();
    assert!(outbox_changes(s).await.is_empty());

    // The stored message, byte for byte what a get reads (quotes, backslashes, non-ASCII,
    // a NUL in the content), and a time raised to the chat's last one, as the message's is.
    let mut tricky = new_text(
        w.tenant,
        w.group.id,
        w.alice,
        "a \"quoted\" \\ 日本 \u{1F600}",
        20,
    );
    tricky.content.data = serde_json::json!({ "created_at": 0, "nul": "\u{0}" }).into();
    let plain = s.append_message(tricky).await.unwrap().message;
    let earlier = s
        .append_message(new_text(w.tenant, w.group.id, w.bob, "earlier", 5))
        .await
        .unwrap()
        .message;
    assert_eq!(earlier.created_at, 20);
    let cs = outbox_changes(s).await;
    assert_eq!(cs.iter().map(|c| c.at).collect::<Vec<_>>(), vec![20, 20]);
    assert!(cs
        .iter()
        .all(|c| c.tenant == w.tenant && c.chat == w.group.id));
    assert!(cs[0].seq < cs[1].seq);
    for (c, stored) in cs.iter().zip([&plain, &earlier]) {
        assert_eq!(
            c.body,
            ChangeBody::MessageCreated {
                message: stored.clone()
            }
        );
        assert_eq!(
            Some(stored.clone()),
            s.get_message(stored.id).await.unwrap()
        );
    }
    outbox_drain(s).await;

    // append_message, and nothing for its idempotent repeat.
    let mut nm = new_text(w.tenant, w.group.id, w.bob, "hi", 20);
    nm.client_msg_id = Some("once".into());
    let first = s.append_message(nm.clone()).await.unwrap();
    let again = s.append_message(nm).await.unwrap();
    assert!(first.created && !again.created);
    assert_eq!(
        Some(first.message.clone()),
        s.get_message(first.message.id).await.unwrap()
    );
    let cs = outbox_changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(
        (cs[0].tenant, cs[0].chat, cs[0].at),
        (w.tenant, w.group.id, first.message.created_at)
    );
    assert_eq!(
        bodies(&cs),
        vec![ChangeBody::MessageCreated {
            message: first.message.clone()
        }]
    );
    outbox_drain(s).await;

    // An edit and a removal, each with the message after it.
    let edited = s
        .update_message(
            first.message.id,
            MessageUpdate::Edit {
                kind: MessageType::Text,
                content: first.message.content.clone(),
                mentions: vec![],
                by: w.bob,
                at: 30,
                max_edits: Some(1),
                min_interval_ms: None,
                extra: None,
            },
        )
        .await
        .unwrap();
    let removed = s
        .update_message(
            first.message.id,
            MessageUpdate::Remove(Removal {
                kind: RemovalKind::Recalled,
                by: w.bob,
                at: 40,
            }),
        )
        .await
        .unwrap();
    assert!(removed.removal.is_some());
    let cs = outbox_changes(s).await;
    assert_eq!(cs.iter().map(|c| c.at).collect::<Vec<_>>(), vec![30, 40]);
    assert_eq!(
        bodies(&cs),
        vec![
            ChangeBody::MessageEdited { message: edited },
            ChangeBody::MessageRemoved { message: removed }
        ]
    );
    outbox_drain(s).await;

    // A merge forward: the container only.
    let kids = vec![
        new_text(w.tenant, w.group.id, w.bob, "a", 1),
        new_text(w.tenant, w.group.id, w.bob, "b", 2),
    ];
    let (container, children) = s
        .append_merge_forward(new_text(w.tenant, w.group.id, w.bob, "mf", 50), kids)
        .await
        .unwrap();
    assert_eq!(children.len(), 2);
    assert_eq!(
        Some(container.clone()),
        s.get_message(container.id).await.unwrap()
    );
    assert_eq!(
        bodies(&outbox_changes(s).await),
        vec![ChangeBody::MessageCreated { message: container }]
    );
    outbox_drain(s).await;

    // Members: only those actually added or removed; nothing when none.
    let added = s
        .add_members(
            w.group.id,
            vec![(w.bob, Role::Member), (w.carol, Role::Member)],
            60,
            Some(w.alice),
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1);
    s.add_members(w.group.id, vec![(w.bob, Role::Member)], 61, Some(w.alice))
        .await
        .unwrap();
    let gone = s
        .remove_members(w.group.id, vec![w.carol, Actor::App(w.other_bot)], 62, None)
        .await
        .unwrap();
    assert_eq!(gone, vec![w.carol]);
    assert!(s
        .remove_members(w.group.id, vec![w.carol], 63, None)
        .await
        .unwrap()
        .is_empty());
    // An unknown chat is refused, and records nothing. (Which error is not the contract's:
    // PostgreSQL's NotFound(Chat) is held by its own tests.)
    assert!(s
        .add_members(ChatId(999_999), vec![(w.carol, Role::Member)], 64, None)
        .await
        .is_err());
    let cs = outbox_changes(s).await;
    assert_eq!(
        cs.iter()
            .map(|c| (c.tenant, c.chat, c.at))
            .collect::<Vec<_>>(),
        vec![(w.tenant, w.group.id, 60), (w.tenant, w.group.id, 62)]
    );
    assert_eq!(
        bodies(&cs),
        vec![
            ChangeBody::MembersAdded {
                by: Some(w.alice),
                members: vec![w.carol]
            },
            ChangeBody::MembersRemoved {
                by: None,
                members: vec![w.carol]
            }
        ]
    );
    outbox_drain(s).await;

    // Imports record nothing, with idempotency keys or without.
    let mut keyed = new_text(w.tenant, solo.id, w.alice, "k", 70);
    keyed.client_msg_id = Some("imp".into());
    s.append_batch(vec![keyed, new_text(w.tenant, solo.id, w.alice, "x", 71)])
        .await
        .unwrap();
    s.append_batch(vec![new_text(w.tenant, solo.id, w.alice, "y", 72)])
        .await
        .unwrap();
    assert!(outbox_changes(s).await.is_empty());

    // Dissolving: once, by whoever did it; members stay.
    let d = s
        .dissolve_chat(w.group.id, 80, Some(w.alice))
        .await
        .unwrap();
    assert_eq!(d.dissolved_at, Some(80));
    let d = s.dissolve_chat(w.group.id, 81, Some(w.bob)).await.unwrap();
    assert_eq!(
        d.dissolved_at,
        Some(80),
        "the first dissolution's time stays"
    );
    let cs = outbox_changes(s).await;
    assert_eq!(cs.len(), 1);
    assert_eq!(cs[0].at, 80);
    assert_eq!(cs[0].body, ChangeBody::ChatDissolved { by: Some(w.alice) });
    assert_eq!(s.list_members(w.group.id).await.unwrap().len(), 3);
    outbox_drain(s).await;

    // Failed writes leave no change.
    assert!(s
        .append_message(new_text(w.tenant, w.group.id, w.bob, "late", 90))
        .await
        .is_err());
    assert!(s
        .update_message(
            first.message.id,
            MessageUpdate::Remove(Removal {
                kind: RemovalKind::Deleted,
                by: w.bob,
                at: 91
            })
        )
        .await
        .is_err());
    assert!(s
        .append_message(new_text(w.tenant, ChatId(999), w.bob, "nowhere", 92))
        .await
        .is_err());
    assert!(outbox_changes(s).await.is_empty());
}

pub async fn events_change_seqs_are_never_reused(store: Arc<dyn Store>) {
    let w = outbox_world(store).await;
    outbox_drain(&*w.store).await;
    let a = outbox_make_changes(&w, 3).await;
    assert!(a.windows(2).all(|p| p[0] < p[1]));
    outbox_drain(&*w.store).await;
    let b = outbox_make_changes(&w, 1).await;
    assert!(b[0] > a[2], "seq reused after routing");
}
