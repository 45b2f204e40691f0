//! The store contract, tested directly.

use super::*;
use crate::error::{Conflict, Entity};

fn page() -> Page {
    Page {
        after: 0,
        limit: 100,
    }
}

pub async fn tenants_users_apps(store: Arc<dyn Store>) {
    let t = store
        .create_tenant(NewTenant {
            name: "T1".into(),
            created_at: 5,
        })
        .await
        .unwrap();
    let t2 = store
        .create_tenant(NewTenant {
            name: "T2".into(),
            created_at: 6,
        })
        .await
        .unwrap();
    assert_ne!(t.id, t2.id);
    assert_eq!(store.get_tenant(t.id).await.unwrap(), Some(t.clone()));
    assert_eq!(store.get_tenant(TenantId(9_999_999)).await.unwrap(), None);
    let all = store.list_tenants(page()).await.unwrap();
    assert_eq!(all, vec![t.clone(), t2.clone()]);
    let after = store
        .list_tenants(Page {
            after: t.id.0,
            limit: 10,
        })
        .await
        .unwrap();
    assert_eq!(after, vec![t2.clone()]);

    let u = store
        .create_user(NewUser {
            tenant: t.id,
            user_id: "u1".into(),
            account_id: "acc1".into(),
            name: "U".into(),
            created_at: 7,
        })
        .await
        .unwrap();
    assert_eq!(store.get_user(u.id).await.unwrap(), Some(u.clone()));
    assert_eq!(
        store.find_user(t.id, UserKey::UserId("u1")).await.unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        store
            .find_user(t.id, UserKey::AccountId("acc1"))
            .await
            .unwrap(),
        Some(u.clone())
    );
    assert_eq!(
        store.find_user(t2.id, UserKey::UserId("u1")).await.unwrap(),
        None,
        "users are per tenant"
    );
    assert_eq!(
        store.list_users(t.id, page()).await.unwrap(),
        vec![u.clone()]
    );
    let renamed = store.rename_user(u.id, "Renamed".into()).await.unwrap();
    assert_eq!(
        (
            renamed.name.as_str(),
            renamed.user_id.as_str(),
            renamed.account_id.as_str()
        ),
        ("Renamed", "u1", "acc1")
    );
    let u = renamed;
    assert_eq!(store.get_user(u.id).await.unwrap(), Some(u.clone()));
    assert!(matches!(
        store.rename_user(UserId(987_654_321), "x".into()).await,
        Err(StoreError::NotFound(Entity::User))
    ));
    assert!(store.list_users(t2.id, page()).await.unwrap().is_empty());

    let a = store
        .create_app(NewApp {
            tenant: t.id,
            app_id: "cli_test".into(),
            app_secret: Secret::new("s3cret"),
            name: "Bot".into(),
            bot_enabled: true,
            signing_required: false,
            scopes: vec!["a".into(), "b".into()],
            created_at: 8,
        })
        .await
        .unwrap();
    assert_eq!(store.get_app(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(store.find_app("cli_test").await.unwrap(), Some(a.clone()));
    assert_eq!(store.find_app("cli_nope").await.unwrap(), None);
    assert_eq!(
        store.list_apps(t.id, page()).await.unwrap(),
        vec![a.clone()]
    );
    let dup = store
        .create_app(NewApp {
            app_id: "cli_test".into(),
            tenant: t2.id,
            ..NewApp { ..new_app_like(&a) }
        })
        .await;
    assert!(
        matches!(dup, Err(StoreError::Duplicate("app_id"))),
        "{dup:?}"
    );
}

fn new_app_like(a: &App) -> NewApp {
    NewApp {
        tenant: a.tenant,
        app_id: a.app_id.clone(),
        app_secret: a.app_secret.clone(),
        name: a.name.clone(),
        bot_enabled: a.bot_enabled,
        signing_required: a.signing_required,
        scopes: a.scopes.clone(),
        created_at: a.created_at,
    }
}

pub async fn user_names_are_unique_per_tenant(store: Arc<dyn Store>) {
    let t = store
        .create_tenant(NewTenant {
            name: "T".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let t2 = store
        .create_tenant(NewTenant {
            name: "T2".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let nu = |tenant: TenantId, uid: &str, acc: &str| NewUser {
        tenant,
        user_id: uid.into(),
        account_id: acc.into(),
        name: "x".into(),
        created_at: 1,
    };
    store.create_user(nu(t.id, "a", "a")).await.unwrap();
    let e = store.create_user(nu(t.id, "a", "other")).await;
    assert!(matches!(e, Err(StoreError::Duplicate("user_id"))), "{e:?}");
    let e = store.create_user(nu(t.id, "b", "a")).await;
    assert!(
        matches!(e, Err(StoreError::Duplicate("account_id"))),
        "{e:?}"
    );
    store
        .create_user(nu(t2.id, "a", "a"))
        .await
        .expect("same names in another tenant");
    assert_eq!(
        store.list_users(t.id, page()).await.unwrap().len(),
        1,
        "failed inserts wrote nothing"
    );
}

pub async fn app_updates(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let patched = store
        .update_app(
            f.bot.id,
            AppPatch {
                bot_enabled: Some(false),
                scopes: Some(vec!["x".into()]),
                app_secret: Some(Secret::new("new")),
                ..AppPatch::default()
            },
        )
        .await
        .unwrap();
    assert!(!patched.bot_enabled);
    assert_eq!(patched.scopes, vec!["x".to_string()]);
    assert!(patched.app_secret.matches("new"));
    assert_eq!(store.get_app(f.bot.id).await.unwrap(), Some(patched));
    let missing = store
        .update_app(AppId(99_999_999), AppPatch::default())
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(Entity::App))));
}

pub async fn chats_and_members(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let chat = store.get_chat(f.group.id).await.unwrap().unwrap();
    assert_eq!(chat, f.group);
    assert_eq!(chat.owner, Actor::User(f.alice.id));
    let members = store.list_members(chat.id).await.unwrap();
    assert_eq!(members.len(), 3);
    let owner = store
        .get_member(chat.id, Actor::User(f.alice.id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(owner.role, Role::Owner);
    assert_eq!(
        store
            .get_member(chat.id, Actor::App(f.bot.id))
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Member
    );

    let carol = store
        .create_user(NewUser {
            tenant: f.tenant.id,
            user_id: "carol".into(),
            account_id: "carol".into(),
            name: "C".into(),
            created_at: 1,
        })
        .await
        .unwrap();
    let added = store
        .add_members(
            chat.id,
            vec![
                (Actor::User(carol.id), Role::Admin),
                (Actor::User(f.bob.id), Role::Admin),
            ],
            99,
            None,
        )
        .await
        .unwrap();
    assert_eq!(added.len(), 1, "bob was already a member");
    assert_eq!(added[0].actor, Actor::User(carol.id));
    assert_eq!(added[0].joined_at, 99);
    assert_eq!(
        store
            .get_member(chat.id, Actor::User(f.bob.id))
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Member,
        "role kept"
    );
    let promoted = store
        .set_member_role(chat.id, Actor::User(f.bob.id), Role::Admin)
        .await
        .unwrap();
    assert_eq!(
        (promoted.actor, promoted.role),
        (Actor::User(f.bob.id), Role::Admin)
    );
    assert_eq!(
        store
            .get_member(chat.id, Actor::User(f.bob.id))
            .await
            .unwrap()
            .unwrap()
            .role,
        Role::Admin,
        "read back at once"
    );
    let missing = store
        .set_member_role(chat.id, Actor::App(AppId(424242)), Role::Admin)
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(Entity::Member))),
        "{missing:?}"
    );
    let removed = store
        .remove_members(
            chat.id,
            vec![
                Actor::User(carol.id),
                Actor::User(carol.id),
                Actor::App(AppId(424242)),
            ],
            100,
            None,
        )
        .await
        .unwrap();
    assert_eq!(removed, vec![Actor::User(carol.id)]);
    assert!(store
        .get_member(chat.id, Actor::User(carol.id))
        .await
        .unwrap()
        .is_none());
    let listed = store.list_chats(f.tenant.id, page()).await.unwrap();
    assert_eq!(
        listed.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![chat.id]
    );
    let dissolved = store.dissolve_chat(chat.id, 1234, None).await.unwrap();
    assert_eq!(dissolved.dissolved_at, Some(1234));
    assert_eq!(
        store
            .dissolve_chat(chat.id, 9999, None)
            .await
            .unwrap()
            .dissolved_at,
        Some(1234),
        "first dissolution time kept"
    );
}

pub async fn p2p_is_unique_and_symmetric(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let (a, b) = (Actor::App(f.bot.id), Actor::User(f.alice.id));
    assert!(store.find_p2p(f.tenant.id, a, b).await.unwrap().is_none());
    let mk = |x: Actor, y: Actor| NewChat {
        tenant: f.tenant.id,
        kind: ChatKind::P2p,
        name: String::new(),
        owner: x,
        members: vec![(x, Role::Member), (y, Role::Member)],
        created_at: 1,
    };
    let c = store.create_chat(mk(a, b)).await.unwrap();
    assert_eq!(
        store.find_p2p(f.tenant.id, a, b).await.unwrap().unwrap().id,
        c.id
    );
    assert_eq!(
        store.find_p2p(f.tenant.id, b, a).await.unwrap().unwrap().id,
        c.id,
        "symmetric"
    );
    let dup = store.create_chat(mk(b, a)).await;
    assert!(matches!(dup, Err(StoreError::Duplicate("p2p"))), "{dup:?}");
}

pub async fn positions_are_consecutive(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let mut last_created = 0;
    for i in 1..=25i64 {
        // A clock that goes backwards must not make created_at go backwards along positions.
        let at = if i == 10 { 5 } else { 1_000 + i };
        let m = store
            .append_message(new_text(
                f.tenant.id,
                f.group.id,
                Actor::User(f.alice.id),
                &format!("m{i}"),
                at,
            ))
            .await
            .unwrap();
        assert!(m.created);
        assert_eq!(m.message.position(), Some(i));
        assert_eq!(m.message.id.chat(), f.group.id);
        assert!(m.message.created_at >= last_created);
        last_created = m.message.created_at;
        assert_eq!(
            store.get_message(m.message.id).await.unwrap().unwrap(),
            m.message
        );
    }
    assert_eq!(last_position(&store, f.group.id).await, 25);
    assert!(store
        .get_message(MessageId::timeline(f.group.id, 26).unwrap())
        .await
        .unwrap()
        .is_none());
}

pub async fn concurrent_senders_get_gapless_positions(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    const SENDERS: usize = 16;
    const EACH: usize = 500;
    let mut tasks = Vec::new();
    for s in 0..SENDERS {
        let store = store.clone();
        let (tenant, chat, sender) = (
            f.tenant.id,
            f.group.id,
            Actor::User(if s % 2 == 0 { f.alice.id } else { f.bob.id }),
        );
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::with_capacity(EACH);
            for i in 0..EACH {
                let m = store
                    .append_message(new_text(tenant, chat, sender, &format!("s{s}-{i}"), 1_000))
                    .await
                    .unwrap();
                got.push(m.message.position().unwrap());
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        let got = t.await.unwrap();
        assert!(
            got.windows(2).all(|w| w[0] < w[1]),
            "each sender sees its own messages in order"
        );
        all.extend(got);
    }
    all.sort_unstable();
    let expect: Vec<i64> = (1..=(SENDERS * EACH) as i64).collect();
    assert_eq!(all, expect, "positions are exactly 1..={}", SENDERS * EACH);
    let listed = store
        .list_messages(MessageRange {
            chat: f.group.id,
            after_position: 0,
            before_position: None,
            since_ms: None,
            until_ms: None,
            limit: 10_000,
            descending: false,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), SENDERS * EACH);
    assert!(listed
        .iter()
        .enumerate()
        .all(|(i, m)| m.position() == Some(i as i64 + 1)));
}

pub async fn failed_writes_leave_no_gap(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let mut tasks = Vec::new();
    for i in 0..40 {
        let store = store.clone();
        let (tenant, good) = (f.tenant.id, f.group.id);
        let chat = if i % 3 == 0 {
            ChatId(MAX_CHAT_ID - 7)
        } else {
            good
        };
        tasks.push(tokio::spawn(async move {
            store
                .append_message(new_text(tenant, chat, Actor::User(UserId(1)), "x", 10))
                .await
        }));
    }
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::NotFound(Entity::Chat)) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 26);
    let listed = store
        .list_messages(MessageRange {
            chat: f.group.id,
            after_position: 0,
            before_position: None,
            since_ms: None,
            until_ms: None,
            limit: 100,
            descending: false,
        })
        .await
        .unwrap();
    let pos: Vec<i64> = listed.iter().filter_map(|m| m.position()).collect();
    assert_eq!(pos, (1..=26).collect::<Vec<_>>());
    let next = store
        .append_message(new_text(
            f.tenant.id,
            f.group.id,
            Actor::User(f.alice.id),
            "after",
            10,
        ))
        .await
        .unwrap();
    assert_eq!(next.message.position(), Some(27));
}

pub async fn idempotent_append(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let mut m = new_text(f.tenant.id, f.group.id, alice, "hello", 1_000);
    m.client_msg_id = Some("c-1".into());
    m.idempotency_window_ms = 60_000;
    let first = store.append_message(m.clone()).await.unwrap();
    assert!(first.created);
    let mut again = m.clone();
    again.content = text("different body");
    again.created_at = 30_000;
    let second = store.append_message(again).await.unwrap();
    assert!(!second.created);
    assert_eq!(second.message, first.message);
    // Another sender with the same key is a different message.
    let mut other = m.clone();
    other.sender = Actor::User(f.bob.id);
    let third = store.append_message(other).await.unwrap();
    assert!(third.created);
    assert_eq!(third.message.position(), Some(2));
    // Past the window the key is free again.
    let mut late = m.clone();
    late.created_at = 1_000 + 60_001;
    let fourth = store.append_message(late).await.unwrap();
    assert!(fourth.created);
    assert_eq!(fourth.message.position(), Some(3));
    assert_eq!(last_position(&store, f.group.id).await, 3);
}

pub async fn list_ranges(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    for i in 1..=20i64 {
        store
            .append_message(new_text(
                f.tenant.id,
                f.group.id,
                Actor::User(f.alice.id),
                &format!("m{i}"),
                i * 1000,
            ))
            .await
            .unwrap();
    }
    let q = |after: i64,
             before: Option<i64>,
             since: Option<i64>,
             until: Option<i64>,
             limit: u32,
             desc: bool| MessageRange {
        chat: f.group.id,
        after_position: after,
        before_position: before,
        since_ms: since,
        until_ms: until,
        limit,
        descending: desc,
    };
    let pos = |v: Vec<Message>| v.iter().map(|m| m.position().unwrap()).collect::<Vec<_>>();
    assert_eq!(
        pos(store
            .list_messages(q(0, None, None, None, 5, false))
            .await
            .unwrap()),
        vec![1, 2, 3, 4, 5]
    );
    assert_eq!(
        pos(store
            .list_messages(q(5, None, None, None, 3, false))
            .await
            .unwrap()),
        vec![6, 7, 8]
    );
    assert_eq!(
        pos(store
            .list_messages(q(0, Some(4), None, None, 50, false))
            .await
            .unwrap()),
        vec![1, 2, 3]
    );
    assert_eq!(
        pos(store
            .list_messages(q(0, None, None, None, 3, true))
            .await
            .unwrap()),
        vec![20, 19, 18]
    );
    assert_eq!(
        pos(store
            .list_messages(q(0, Some(18), None, None, 2, true))
            .await
            .unwrap()),
        vec![17, 16]
    );
    assert_eq!(
        pos(store
            .list_messages(q(0, None, Some(5000), Some(7000), 50, false))
            .await
            .unwrap()),
        vec![5, 6, 7]
    );
    assert_eq!(
        pos(store
            .list_messages(q(20, None, None, None, 50, false))
            .await
            .unwrap()),
        Vec::<i64>::new()
    );
    // Time bounds alone, with paging and direction, at and between timestamps, and past
    // either end.
    let range = |after, before, since, until, limit, desc| {
        let store = store.clone();
        async move {
            pos(store
                .list_messages(q(after, before, since, until, limit, desc))
                .await
                .unwrap())
        }
    };
    assert_eq!(
        range(0, None, Some(18_500), None, 50, false).await,
        vec![19, 20]
    );
    assert_eq!(
        range(0, None, None, Some(2_999), 50, false).await,
        vec![1, 2]
    );
    assert_eq!(range(0, None, None, Some(3_000), 2, true).await, vec![3, 2]);
    assert_eq!(
        range(0, Some(3), None, Some(9_000), 5, true).await,
        vec![2, 1]
    );
    assert_eq!(
        range(6, None, Some(5_000), Some(9_000), 2, false).await,
        vec![7, 8]
    );
    assert_eq!(
        range(0, None, Some(20_001), None, 50, false).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        range(0, None, None, Some(999), 50, true).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        range(0, None, Some(9_000), Some(8_000), 50, false).await,
        Vec::<i64>::new()
    );
    assert_eq!(
        range(0, None, Some(i64::MIN), Some(i64::MAX), 3, true).await,
        vec![20, 19, 18]
    );
    // Equal timestamps (a clock that did not move): a bound at that time takes them all.
    for text in ["t1", "t2", "t3"] {
        store
            .append_message(new_text(
                f.tenant.id,
                f.group.id,
                Actor::User(f.alice.id),
                text,
                30_000,
            ))
            .await
            .unwrap();
    }
    assert_eq!(
        range(0, None, Some(30_000), None, 50, false).await,
        vec![21, 22, 23]
    );
    assert_eq!(
        range(0, None, Some(20_000), Some(30_000), 50, true).await,
        vec![23, 22, 21, 20]
    );
    assert_eq!(range(0, None, None, Some(29_999), 1, true).await, vec![20]);
    let other = store.create_chat(NewChat {
        tenant: f.tenant.id,
        kind: ChatKind::Group,
        name: "empty".into(),
        owner: Actor::User(f.alice.id),
        members: vec![(Actor::User(f.alice.id), Role::Owner)],
        created_at: 1,
    });
    let other = other.await.unwrap();
    assert!(
        store
            .list_messages(MessageRange {
                chat: other.id,
                ..q(0, None, None, None, 50, false)
            })
            .await
            .unwrap()
            .is_empty(),
        "chats do not bleed"
    );
}

fn text_edit(by: Actor, s: &str, at: Millis, max_edits: Option<u32>) -> MessageUpdate {
    MessageUpdate::Edit {
        kind: MessageType::Text,
        content: text(s),
        mentions: vec![],
        by,
        at,
        max_edits,
        min_interval_ms: None,
        extra: None,
    }
}

pub async fn edits_and_removals(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let m = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "v1", 1_000))
        .await
        .unwrap()
        .message;
    let edit = |s: &str, at: Millis| text_edit(alice, s, at, Some(2));
    let e1 = store.update_message(m.id, edit("v2", 2_000)).await.unwrap();
    assert_eq!(e1.content.text, "v2");
    assert_eq!(
        e1.edit,
        Some(EditInfo {
            by: alice,
            at: 2_000,
            count: 1
        })
    );
    assert_eq!(e1.updated_at, 2_000);
    assert_eq!(e1.created_at, m.created_at);
    let e2 = store.update_message(m.id, edit("v3", 3_000)).await.unwrap();
    assert_eq!(e2.edit.as_ref().unwrap().count, 2);
    let e3 = store.update_message(m.id, edit("v4", 4_000)).await;
    assert!(
        matches!(e3, Err(StoreError::Conflict(Conflict::EditLimit))),
        "{e3:?}"
    );
    assert_eq!(
        store.get_message(m.id).await.unwrap().unwrap().content.text,
        "v3",
        "refused edit wrote nothing"
    );
    let removal = Removal {
        kind: RemovalKind::Recalled,
        by: alice,
        at: 5_000,
    };
    let r = store
        .update_message(m.id, MessageUpdate::Remove(removal.clone()))
        .await
        .unwrap();
    assert_eq!(r.removal, Some(removal.clone()));
    assert_eq!(
        store.get_message(m.id).await.unwrap().unwrap().removal,
        Some(removal)
    );
    let after = store.update_message(m.id, edit("v5", 6_000)).await;
    assert!(
        matches!(
            after,
            Err(StoreError::Conflict(Conflict::MessageRemoved(
                RemovalKind::Recalled
            )))
        ),
        "{after:?}"
    );
    // A second removal says the message was already removed (a recall's own refusal).
    let twice = store
        .update_message(
            m.id,
            MessageUpdate::Remove(Removal {
                kind: RemovalKind::Deleted,
                by: alice,
                at: 7_000,
            }),
        )
        .await;
    assert!(
        matches!(
            twice,
            Err(StoreError::Conflict(Conflict::AlreadyRemoved(
                RemovalKind::Recalled
            )))
        ),
        "{twice:?}"
    );
    let missing = store
        .update_message(MessageId::timeline(f.group.id, 99).unwrap(), edit("x", 1))
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(Entity::Message))),
        "{missing:?}"
    );
}

pub async fn merge_forward_children_stay_off_the_timeline(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let a = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "a", 1_000))
        .await
        .unwrap()
        .message;
    let b = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "b", 2_000))
        .await
        .unwrap()
        .message;
    let mut container = new_text(
        f.tenant.id,
        f.group.id,
        Actor::App(f.bot.id),
        "history",
        3_000,
    );
    container.kind = MessageType::MergeForward;
    let kids = [&a, &b]
        .iter()
        .map(|m| {
            let mut k = new_text(
                f.tenant.id,
                f.group.id,
                m.sender,
                &m.content.text,
                m.created_at,
            );
            k.copied_from = Some(m.id);
            k
        })
        .collect();
    let (c, children) = store.append_merge_forward(container, kids).await.unwrap();
    assert_eq!(c.position(), Some(3));
    assert_eq!(children.len(), 2);
    for (child, orig) in children.iter().zip([&a, &b]) {
        assert!(child.id.is_child());
        assert_eq!(child.id.chat(), f.group.id);
        assert_eq!(child.upper, Some(c.id));
        assert_eq!(child.copied_from, Some(orig.id));
        assert_eq!(child.created_at, orig.created_at);
        assert_eq!(
            store.get_message(child.id).await.unwrap().as_ref(),
            Some(child)
        );
    }
    assert_eq!(store.list_children(c.id).await.unwrap(), children);
    let next = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "next", 4_000))
        .await
        .unwrap()
        .message;
    assert_eq!(next.position(), Some(4), "children take no position");
    let listed = store
        .list_messages(MessageRange {
            chat: f.group.id,
            after_position: 0,
            before_position: None,
            since_ms: None,
            until_ms: None,
            limit: 100,
            descending: false,
        })
        .await
        .unwrap();
    assert_eq!(listed.len(), 4);
    assert!(listed.iter().all(|m| !m.id.is_child()));
}

pub async fn dissolved_and_unknown_chats(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    store.dissolve_chat(f.group.id, 10, None).await.unwrap();
    let e = store
        .append_message(new_text(
            f.tenant.id,
            f.group.id,
            Actor::User(f.alice.id),
            "x",
            11,
        ))
        .await;
    assert!(
        matches!(e, Err(StoreError::Conflict(Conflict::ChatDissolved))),
        "{e:?}"
    );
    let e = store
        .append_message(new_text(
            f.tenant.id,
            ChatId(MAX_CHAT_ID - 1),
            Actor::User(f.alice.id),
            "x",
            11,
        ))
        .await;
    assert!(
        matches!(e, Err(StoreError::NotFound(Entity::Chat))),
        "{e:?}"
    );
    // The same with an idempotency key: the refusal keeps nothing, so the key is still
    // free for a send into a live chat.
    let keyed = |chat: ChatId| {
        let mut m = new_text(f.tenant.id, chat, Actor::User(f.alice.id), "k", 12);
        m.client_msg_id = Some("k-1".into());
        m
    };
    let e = store.append_message(keyed(f.group.id)).await;
    assert!(
        matches!(e, Err(StoreError::Conflict(Conflict::ChatDissolved))),
        "{e:?}"
    );
    let e = store.append_message(keyed(ChatId(MAX_CHAT_ID - 1))).await;
    assert!(
        matches!(e, Err(StoreError::NotFound(Entity::Chat))),
        "{e:?}"
    );
    assert_eq!(last_position(&store, f.group.id).await, 0);
    let live = store
        .create_chat(NewChat {
            tenant: f.tenant.id,
            kind: ChatKind::Group,
            name: "live".into(),
            owner: Actor::User(f.alice.id),
            members: vec![(Actor::User(f.alice.id), Role::Owner)],
            created_at: 12,
        })
        .await
        .unwrap();
    let sent = store.append_message(keyed(live.id)).await.unwrap();
    assert!(sent.created, "the refused sends did not take the key");
    assert_eq!(sent.message.position(), Some(1));
}

pub async fn nonce_replay(store: Arc<dyn Store>) {
    assert!(store.remember_nonce("app1", "n1", 1_000, 0).await.unwrap());
    assert!(
        !store
            .remember_nonce("app1", "n1", 1_000, 500)
            .await
            .unwrap(),
        "replay inside the window"
    );
    assert!(
        store
            .remember_nonce("app2", "n1", 1_000, 500)
            .await
            .unwrap(),
        "scoped per app"
    );
    assert!(
        store
            .remember_nonce("app1", "n1", 3_000, 1_001)
            .await
            .unwrap(),
        "expired nonce may be reused"
    );
}

/// A second group of the fixture's tenant, with Alice alone.
async fn other_group(store: &Arc<dyn Store>, f: &Fixture) -> Chat {
    let alice = Actor::User(f.alice.id);
    store
        .create_chat(NewChat {
            tenant: f.tenant.id,
            kind: ChatKind::Group,
            name: "other".into(),
            owner: alice,
            members: vec![(alice, Role::Owner)],
            created_at: 1,
        })
        .await
        .unwrap()
}

/// The last timeline position `chat` has taken.
async fn last_position(store: &Arc<dyn Store>, chat: ChatId) -> i64 {
    store.get_chat(chat).await.unwrap().unwrap().last_position
}

pub async fn batch_append_is_atomic_and_ordered(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let other = other_group(&store, &f).await;
    let batch: Vec<NewMessage> = (0..300)
        .map(|i| {
            let chat = if i % 3 == 0 { other.id } else { f.group.id };
            new_text(f.tenant.id, chat, alice, &format!("b{i}"), 10_000 + i)
        })
        .collect();
    let stored = store.append_batch(batch).await.unwrap();
    assert_eq!(stored.len(), 300);
    let in_group: Vec<i64> = stored
        .iter()
        .filter(|m| m.chat == f.group.id)
        .map(|m| m.position().unwrap())
        .collect();
    assert_eq!(in_group, (1..=200).collect::<Vec<_>>());
    let in_other: Vec<i64> = stored
        .iter()
        .filter(|m| m.chat == other.id)
        .map(|m| m.position().unwrap())
        .collect();
    assert_eq!(in_other, (1..=100).collect::<Vec<_>>());
    assert_eq!(
        store
            .get_message(stored[299].id)
            .await
            .unwrap()
            .unwrap()
            .content
            .text,
        "b299"
    );
    // One bad message (unknown chat) rejects the whole batch.
    let mut bad: Vec<NewMessage> = (0..10)
        .map(|i| new_text(f.tenant.id, f.group.id, alice, &format!("x{i}"), 20_000))
        .collect();
    bad.push(new_text(
        f.tenant.id,
        ChatId(MAX_CHAT_ID - 3),
        alice,
        "nowhere",
        20_000,
    ));
    assert!(store.append_batch(bad).await.is_err());
    assert_eq!(
        last_position(&store, f.group.id).await,
        200,
        "nothing of the failed batch was written"
    );
    let next = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "next", 30_000))
        .await
        .unwrap();
    assert_eq!(next.message.position(), Some(201));

    // Times never go backwards along a chat's positions, within a batch and from the chat's
    // last message before it; a later append is floored by the batch's last time.
    let times = [29_000, 31_000, 30_500, 40_000, 35_000];
    let batch: Vec<NewMessage> = times
        .iter()
        .enumerate()
        .map(|(i, t)| new_text(f.tenant.id, f.group.id, alice, &format!("t{i}"), *t))
        .collect();
    let stored = store.append_batch(batch).await.unwrap();
    let got: Vec<(i64, Millis)> = stored
        .iter()
        .map(|m| (m.position().unwrap(), m.created_at))
        .collect();
    assert_eq!(
        got,
        [
            (202, 30_000),
            (203, 31_000),
            (204, 31_000),
            (205, 40_000),
            (206, 40_000)
        ]
    );
    let read = store.get_message(stored[2].id).await.unwrap().unwrap();
    assert_eq!(
        (read.content.text.as_str(), read.created_at),
        ("t2", 31_000)
    );
    let after = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "late", 1))
        .await
        .unwrap()
        .message;
    assert_eq!((after.position(), after.created_at), (Some(207), 40_000));

    // A dissolved chat anywhere in the batch rejects all of it, as a single append would.
    store.dissolve_chat(other.id, 50_000, None).await.unwrap();
    let mixed = vec![
        new_text(f.tenant.id, f.group.id, alice, "ok", 50_000),
        new_text(f.tenant.id, other.id, alice, "closed", 50_000),
    ];
    assert!(matches!(
        store.append_batch(mixed).await,
        Err(StoreError::Conflict(Conflict::ChatDissolved))
    ));
    assert_eq!(last_position(&store, f.group.id).await, 207);
}

pub async fn edit_interval_and_extra_are_atomic_preconditions(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let m = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "v1", 1_000))
        .await
        .unwrap()
        .message;
    let edit = |at: Millis, extra: Option<MessageExtra>| MessageUpdate::Edit {
        kind: MessageType::Text,
        content: text("edited"),
        mentions: vec![],
        by: alice,
        at,
        max_edits: None,
        min_interval_ms: Some(1_000),
        extra,
    };
    let x = MessageExtra {
        sub_type: Some(7),
        extension: Some("{\"k\":1}".into()),
        client_type: Some(32),
    };
    let first = store
        .update_message(m.id, edit(2_000, Some(x.clone())))
        .await
        .unwrap();
    assert_eq!(first.extra, x, "extra replaced");
    let soon = store.update_message(m.id, edit(2_999, None)).await;
    assert!(
        matches!(soon, Err(StoreError::Conflict(Conflict::TooFrequent))),
        "{soon:?}"
    );
    assert_eq!(
        store
            .get_message(m.id)
            .await
            .unwrap()
            .unwrap()
            .edit
            .unwrap()
            .count,
        1,
        "refused edit wrote nothing"
    );
    let later = store.update_message(m.id, edit(3_000, None)).await.unwrap();
    assert_eq!(later.edit.unwrap().count, 2);
    assert_eq!(later.extra, x, "extra kept when not given");
}

/// The batch form answers each pair as the single form does, in the order asked, repeats
/// and misses included.
pub async fn chats_and_members_answer_each_pair_in_order(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let pairs = [
        (f.group.id, Actor::App(f.bot.id)),
        (ChatId(999_999), alice),
        (f.group.id, Actor::User(UserId(999_999))),
        (f.group.id, alice),
        (f.group.id, Actor::App(AppId(f.alice.id.0))),
        (f.group.id, Actor::App(f.bot.id)),
    ];
    let batch = store.chats_and_members(&pairs).await.unwrap();
    assert_eq!(batch.len(), pairs.len());
    for ((chat, actor), got) in pairs.iter().zip(&batch) {
        let one = store.chat_and_member(*chat, *actor).await.unwrap();
        assert_eq!(got, &one, "{chat:?} {actor:?}");
    }
    assert_eq!(batch[1], (None, None));
    assert!(batch[0].1.is_some() && batch[3].1.is_some());
    assert!(batch[2].0.is_some() && batch[2].1.is_none());
    assert!(store.chats_and_members(&[]).await.unwrap().is_empty());
}

pub async fn chats_with_members_answer_each_chat_in_order(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let small = store
        .create_chat(NewChat {
            tenant: f.tenant.id,
            kind: ChatKind::Group,
            name: "small".into(),
            owner: alice,
            members: vec![(alice, Role::Owner)],
            created_at: 1,
        })
        .await
        .unwrap();
    let ids = [f.group.id, ChatId(999_999), small.id, f.group.id];
    let batch = store.chats_with_members(&ids).await.unwrap();
    assert_eq!(batch.len(), ids.len());
    for (id, got) in ids.iter().zip(&batch) {
        let one = match store.get_chat(*id).await.unwrap() {
            Some(chat) => Some((chat, store.list_members(*id).await.unwrap())),
            None => None,
        };
        assert_eq!(got, &one, "{id:?}");
    }
    assert!(batch[1].is_none());
    assert!(batch[0].as_ref().is_some_and(|(_, m)| m.len() > 1));
    assert!(store.chats_with_members(&[]).await.unwrap().is_empty());
}

pub async fn chat_and_member_reads_both(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let members = store.list_members(f.group.id).await.unwrap();
    assert!(!members.is_empty());
    for m in &members {
        let (chat, member) = store.chat_and_member(f.group.id, m.actor).await.unwrap();
        assert_eq!(chat, store.get_chat(f.group.id).await.unwrap());
        assert_eq!(member.as_ref(), Some(m), "{:?}", m.actor);
    }
    // Someone who is not a member, of either kind: the chat without a membership.
    for outsider in [Actor::User(UserId(999_999)), Actor::App(AppId(999_999))] {
        let (chat, member) = store.chat_and_member(f.group.id, outsider).await.unwrap();
        assert_eq!(chat.map(|c| c.id), Some(f.group.id));
        assert_eq!(member, None);
    }
    // A user and an app with the same raw id are different actors.
    let alice = Actor::User(f.alice.id);
    let same_raw = Actor::App(AppId(f.alice.id.0));
    if store
        .get_member(f.group.id, same_raw)
        .await
        .unwrap()
        .is_none()
    {
        assert_eq!(
            store.chat_and_member(f.group.id, same_raw).await.unwrap().1,
            None
        );
    }
    assert!(store
        .chat_and_member(f.group.id, alice)
        .await
        .unwrap()
        .1
        .is_some());
    // An unknown chat: neither.
    assert_eq!(
        store.chat_and_member(ChatId(999_999), alice).await.unwrap(),
        (None, None)
    );
}

pub async fn lookup_reads_chat_membership_and_message(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let m = store
        .append_message(new_text(f.tenant.id, f.group.id, alice, "v1", 1_000))
        .await
        .unwrap()
        .message;
    let chat = store.get_chat(f.group.id).await.unwrap();
    assert!(chat.is_some());
    let member = store.get_member(f.group.id, alice).await.unwrap();
    assert!(member.is_some());

    let all = store.lookup_message(m.id, Some(alice)).await.unwrap();
    assert_eq!(all.chat, chat);
    assert_eq!(all.member, member);
    assert_eq!(all.message.as_ref(), Some(&m));
    // A store that reads the sender reads the right one.
    match all.sender {
        SenderLookup::NotRead => {}
        SenderLookup::User(u) => assert_eq!(u, f.alice),
        other => panic!("alice sent it, not {other:?}"),
    }
    let from_bot = store
        .append_message(new_text(
            f.tenant.id,
            f.group.id,
            Actor::App(f.bot.id),
            "b",
            1_500,
        ))
        .await
        .unwrap()
        .message;
    match store
        .lookup_message(from_bot.id, None)
        .await
        .unwrap()
        .sender
    {
        SenderLookup::NotRead => {}
        SenderLookup::App(a) => assert_eq!(a, f.bot),
        other => panic!("the bot sent it, not {other:?}"),
    }
    // And the use case shows both senders the same whichever way the store went.
    for (id, party) in [
        (m.id, Party::User(f.alice.clone())),
        (from_bot.id, Party::App(AppCard::from(&f.bot))),
    ] {
        let v = f
            .core
            .get(f.tenant.id, Access::Member(alice), None, id)
            .await
            .unwrap();
        assert_eq!(v.sender, Some(party));
    }

    let bot = store
        .lookup_message(m.id, Some(Actor::App(f.bot.id)))
        .await
        .unwrap();
    assert_eq!(
        bot.member,
        store
            .get_member(f.group.id, Actor::App(f.bot.id))
            .await
            .unwrap()
    );
    assert_eq!(bot.member.unwrap().actor, Actor::App(f.bot.id));

    // Without a reader, or with one outside the chat: no membership, the rest as before.
    let chat = store.get_chat(f.group.id).await.unwrap();
    let admin = store.lookup_message(m.id, None).await.unwrap();
    assert_eq!((admin.chat.as_ref(), admin.member), (chat.as_ref(), None));
    assert_eq!(admin.message.as_ref(), Some(&m));
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
    let outsider = store
        .lookup_message(m.id, Some(Actor::User(carol.id)))
        .await
        .unwrap();
    assert_eq!(outsider.chat, chat);
    assert_eq!(outsider.member, None);

    // An edit is what the next lookup returns.
    let edited = store
        .update_message(m.id, text_edit(alice, "v2", 2_000, None))
        .await
        .unwrap();
    let after = store.lookup_message(m.id, Some(alice)).await.unwrap();
    assert_eq!(after.message, Some(edited));

    // A position not yet taken, and a chat that does not exist.
    let absent = store
        .lookup_message(MessageId::timeline(f.group.id, 99).unwrap(), Some(alice))
        .await
        .unwrap();
    assert_eq!(absent.chat.map(|c| c.id), Some(f.group.id));
    assert!(absent.member.is_some());
    assert_eq!(absent.message, None);
    let nowhere = store
        .lookup_message(
            MessageId::timeline(ChatId(MAX_CHAT_ID - 1), 1).unwrap(),
            Some(alice),
        )
        .await
        .unwrap();
    assert_eq!(nowhere, MessageLookup::default());
}

/// Every row is looked at once, in steps; rows already in the current form are left as
/// they are, and every message reads the same afterwards.
pub async fn documents_upgrade_looks_at_every_row_and_changes_nothing(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let other = other_group(&store, &f).await;
    let mut ids = Vec::new();
    for i in 0..7 {
        let chat = if i % 2 == 0 { f.group.id } else { other.id };
        let sent = store
            .append_message(new_text(f.tenant.id, chat, alice, &format!("m{i}"), 5))
            .await
            .unwrap();
        ids.push(sent.message.id);
    }
    let before: Vec<_> = read_all(&store, &ids).await;
    let (mut after, mut scanned, mut steps) = (None, 0, 0);
    loop {
        let step = store.upgrade_documents(after, 3).await.unwrap();
        assert_eq!(step.rewritten, 0, "already in the current form");
        assert!(step.scanned <= 3);
        scanned += step.scanned;
        steps += 1;
        match step.next {
            Some(next) => {
                assert!(after.is_none_or(|a| next.0 > a.0), "moves forward");
                after = Some(next);
            }
            None => break,
        }
        assert!(steps < 10, "ends");
    }
    assert_eq!(scanned, ids.len() as u64);
    assert_eq!(read_all(&store, &ids).await, before);
    let none = store.upgrade_documents(after, 0).await.unwrap();
    assert_eq!((none.scanned, none.next), (0, None));
}

async fn read_all(store: &Arc<dyn Store>, ids: &[MessageId]) -> Vec<Option<Message>> {
    let mut out = Vec::new();
    for id in ids {
        out.push(store.get_message(*id).await.unwrap());
    }
    out
}
