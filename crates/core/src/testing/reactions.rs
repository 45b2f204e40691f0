//! Reactions, pins and read marks: the store contract and the use-case rules over it.

use super::*;
use crate::clock::Clock;
use crate::error::{Conflict, Denied, Entity, Error};

async fn say(f: &Fixture, sender: Actor, s: &str) -> Message {
    f.core
        .send(Send::new(
            f.tenant.id,
            f.group.id,
            sender,
            MessageType::Text,
            text(s),
        ))
        .await
        .unwrap()
        .message
}

fn recall(f: &Fixture, actor: Actor, id: MessageId) -> Recall {
    Recall {
        tenant: f.tenant.id,
        actor,
        id,
        kind: RemovalKind::Recalled,
        window_ms: None,
        admin_window_ms: None,
    }
}

fn query(f: &Fixture, access: Access, message: MessageId, emoji: Option<&str>) -> ReactionQuery {
    ReactionQuery {
        tenant: f.tenant.id,
        access,
        message,
        emoji: emoji.map(str::to_string),
        after: 0,
        limit: 100,
    }
}

/// Adding is idempotent per (actor, emoji), ids are never reused, lists page by id and
/// filter by type, and only whoever added a reaction deletes it.
pub async fn reactions_add_list_page_and_delete(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let (alice, bob, bot) = (
        Actor::User(f.alice.id),
        Actor::User(f.bob.id),
        Actor::App(f.bot.id),
    );
    let m = say(&f, alice, "react to me").await;
    let t = f.tenant.id;
    let r1 = f.core.add_reaction(t, bot, m.id, "SMILE").await.unwrap();
    assert!(matches!(&r1.operator, Some(Party::App(a)) if a.id == f.bot.id));
    assert_eq!(
        (
            r1.reaction.message,
            r1.reaction.actor,
            r1.reaction.emoji.as_str()
        ),
        (m.id, bot, "SMILE")
    );
    assert_eq!(r1.reaction.created_at, f.clock.now_ms());
    f.clock.advance_ms(5);
    let again = f.core.add_reaction(t, bot, m.id, "SMILE").await.unwrap();
    assert_eq!(
        again.reaction, r1.reaction,
        "one reaction per actor and type"
    );
    let r2 = f.core.add_reaction(t, bot, m.id, "THUMBSUP").await.unwrap();
    let r3 = f.core.add_reaction(t, bob, m.id, "SMILE").await.unwrap();
    assert!(r1.reaction.id < r2.reaction.id && r2.reaction.id < r3.reaction.id);

    let all = f
        .core
        .reactions(query(&f, Access::Member(alice), m.id, None))
        .await
        .unwrap();
    let ids: Vec<ReactionId> = all.items.iter().map(|v| v.reaction.id).collect();
    assert_eq!(ids, vec![r1.reaction.id, r2.reaction.id, r3.reaction.id]);
    assert_eq!(all.next_after, None);
    let smiles = f
        .core
        .reactions(query(&f, Access::Admin, m.id, Some("SMILE")))
        .await
        .unwrap();
    let ids: Vec<ReactionId> = smiles.items.iter().map(|v| v.reaction.id).collect();
    assert_eq!(ids, vec![r1.reaction.id, r3.reaction.id]);
    assert!(matches!(&smiles.items[1].operator, Some(Party::User(u)) if u.id == f.bob.id));

    // Paging: two pages of one and the rest.
    let mut q = query(&f, Access::Member(bob), m.id, None);
    q.limit = 2;
    let p1 = f.core.reactions(q.clone()).await.unwrap();
    assert_eq!(p1.items.len(), 2);
    assert_eq!(p1.next_after, Some(r2.reaction.id.0));
    q.after = p1.next_after.unwrap();
    let p2 = f.core.reactions(q).await.unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_eq!(p2.items[0].reaction.id, r3.reaction.id);
    assert_eq!(p2.next_after, None);

    // Only the one who added it may take it back, and only on its own message.
    let other = say(&f, bob, "another").await;
    let e = f.core.remove_reaction(t, alice, m.id, r3.reaction.id).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotSender))),
        "{e:?}"
    );
    let e = f
        .core
        .remove_reaction(t, bob, other.id, r3.reaction.id)
        .await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "message_id",
                ..
            })
        ),
        "{e:?}"
    );
    let gone = f
        .core
        .remove_reaction(t, bob, m.id, r3.reaction.id)
        .await
        .unwrap();
    assert_eq!(gone.reaction, r3.reaction);
    assert_eq!(store.get_reaction(r3.reaction.id).await.unwrap(), None);
    let e = f.core.remove_reaction(t, bob, m.id, r3.reaction.id).await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "reaction_id",
                ..
            })
        ),
        "{e:?}"
    );
    // Re-adding after a delete gives a new id.
    let r4 = f.core.add_reaction(t, bob, m.id, "SMILE").await.unwrap();
    assert!(r4.reaction.id > r3.reaction.id, "ids are never reused");

    let e = f.core.add_reaction(t, bob, m.id, "").await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "reaction_type",
                ..
            })
        ),
        "{e:?}"
    );
    let e = f.core.add_reaction(t, bob, m.id, "TWO WORDS").await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "reaction_type",
                ..
            })
        ),
        "{e:?}"
    );
}

/// Non-members, other tenants, removed and system messages and dissolved chats.
pub async fn reactions_and_pins_respect_access_and_state(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let t = f.tenant.id;
    let (alice, bot) = (Actor::User(f.alice.id), Actor::App(f.bot.id));
    let m = say(&f, alice, "hello").await;
    let r = f.core.add_reaction(t, alice, m.id, "OK").await.unwrap();

    let outsider = Actor::App(f.core.create_app(t, "Outsider").await.unwrap().id);
    let e = f.core.add_reaction(t, outsider, m.id, "OK").await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );
    let e = f
        .core
        .reactions(query(&f, Access::Member(outsider), m.id, None))
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );
    let e = f.core.pin(t, outsider, m.id).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );

    // Another tenant sees nothing: its ids name no chat of its own.
    let other = f.core.create_tenant("Other").await.unwrap();
    let stranger = Actor::App(f.core.create_app(other.id, "Stranger").await.unwrap().id);
    let e = f.core.add_reaction(other.id, stranger, m.id, "OK").await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
    let mut q = query(&f, Access::Admin, m.id, None);
    q.tenant = other.id;
    let e = f.core.reactions(q).await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
    let e = f
        .core
        .remove_reaction(other.id, stranger, m.id, r.reaction.id)
        .await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
    let e = f.core.pin(other.id, stranger, m.id).await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
    let e = f
        .core
        .pins(PinQuery {
            tenant: other.id,
            access: Access::Admin,
            chat: f.group.id,
            since: None,
            until: None,
            before: None,
            limit: 10,
        })
        .await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
    let missing = MessageId::timeline(f.group.id, 999).unwrap();
    let e = f.core.add_reaction(t, alice, missing, "OK").await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Message))), "{e:?}");

    // A recalled message takes no reactions or pins.
    f.core.recall(recall(&f, alice, m.id)).await.unwrap();
    let removed = Err::<(), _>(Conflict::MessageRemoved(RemovalKind::Recalled));
    let e = f.core.add_reaction(t, bot, m.id, "OK").await.map(|_| ());
    assert!(
        matches!(e, Err(Error::Conflict(c)) if Err::<(), _>(c) == removed),
        "{e:?}"
    );
    let e = f.core.pin(t, bot, m.id).await.map(|_| ());
    assert!(
        matches!(e, Err(Error::Conflict(c)) if Err::<(), _>(c) == removed),
        "{e:?}"
    );
    let e = f
        .core
        .reactions(query(&f, Access::Member(bot), m.id, None))
        .await
        .map(|_| ());
    assert!(matches!(e, Err(Error::Conflict(_))), "{e:?}");

    // A system message takes none either.
    let sys = f
        .core
        .send(Send::new(
            t,
            f.group.id,
            bot,
            MessageType::System,
            text("joined"),
        ))
        .await;
    if let Ok(sys) = sys {
        let e = f.core.add_reaction(t, bot, sys.message.id, "OK").await;
        assert!(
            matches!(e, Err(Error::Conflict(Conflict::WrongMessageType))),
            "{e:?}"
        );
    }

    // A dissolved chat takes none.
    let n = say(&f, alice, "last words").await;
    f.core.dissolve_chat(t, f.group.id, None).await.unwrap();
    let e = f.core.add_reaction(t, alice, n.id, "OK").await;
    assert!(
        matches!(e, Err(Error::Conflict(Conflict::ChatDissolved))),
        "{e:?}"
    );
    let e = f.core.pin(t, alice, n.id).await;
    assert!(
        matches!(e, Err(Error::Conflict(Conflict::ChatDissolved))),
        "{e:?}"
    );
}

/// One pin per message; lists are newest first, windowed by time and paged.
pub async fn pins_are_one_per_message_windowed_and_paged(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let t = f.tenant.id;
    let (alice, bob, bot) = (
        Actor::User(f.alice.id),
        Actor::User(f.bob.id),
        Actor::App(f.bot.id),
    );
    let mut msgs = Vec::new();
    for i in 0..4 {
        msgs.push(say(&f, alice, &format!("m{i}")).await);
    }
    let t0 = f.clock.now_ms();
    let mut pins = Vec::new();
    for (i, m) in msgs.iter().enumerate() {
        f.clock.advance_ms(10);
        let by = if i % 2 == 0 { bot } else { bob };
        pins.push(f.core.pin(t, by, m.id).await.unwrap());
    }
    assert_eq!(pins[0].pin.created_at, t0 + 10);
    assert!(matches!(&pins[0].operator, Some(Party::App(a)) if a.id == f.bot.id));
    // Pinning again returns the first pin, whoever asks.
    f.clock.advance_ms(10);
    let again = f.core.pin(t, alice, msgs[0].id).await.unwrap();
    assert_eq!(again.pin, pins[0].pin);
    assert_eq!(
        store.get_pin(msgs[0].id).await.unwrap(),
        Some(pins[0].pin.clone())
    );

    let list = |since, until, before, limit| PinQuery {
        tenant: t,
        access: Access::Member(alice),
        chat: f.group.id,
        since,
        until,
        before,
        limit,
    };
    let all = f.core.pins(list(None, None, None, 50)).await.unwrap();
    let got: Vec<MessageId> = all.items.iter().map(|p| p.pin.message).collect();
    let newest_first: Vec<MessageId> = msgs.iter().rev().map(|m| m.id).collect();
    assert_eq!(got, newest_first);
    assert_eq!(all.next_before, None);
    // The window is inclusive at both ends.
    let window = f
        .core
        .pins(list(Some(t0 + 20), Some(t0 + 30), None, 50))
        .await
        .unwrap();
    let got: Vec<MessageId> = window.items.iter().map(|p| p.pin.message).collect();
    assert_eq!(got, vec![msgs[2].id, msgs[1].id]);
    // Pages of three and one.
    let p1 = f.core.pins(list(None, None, None, 3)).await.unwrap();
    assert_eq!(p1.items.len(), 3);
    let cursor = p1.next_before.expect("a next page");
    assert_eq!(cursor, (t0 + 20, msgs[1].id));
    let p2 = f
        .core
        .pins(list(None, None, Some(cursor), 3))
        .await
        .unwrap();
    let got: Vec<MessageId> = p2.items.iter().map(|p| p.pin.message).collect();
    assert_eq!(got, vec![msgs[0].id]);
    assert_eq!(p2.next_before, None);

    // Unpinning: true once, then false; a pin after that is a new one.
    assert!(f.core.unpin(t, bob, msgs[0].id).await.unwrap());
    assert!(!f.core.unpin(t, bob, msgs[0].id).await.unwrap());
    assert_eq!(store.get_pin(msgs[0].id).await.unwrap(), None);
    let fresh = f.core.pin(t, alice, msgs[0].id).await.unwrap();
    assert_eq!(fresh.pin.by, alice);
    assert_eq!(fresh.pin.created_at, f.clock.now_ms());
}

/// Marks move forward only; readers are the members past the message, minus its sender
/// and apps; only the sender may list them.
pub async fn read_marks_and_readers(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let t = f.tenant.id;
    let (alice, bob, bot) = (
        Actor::User(f.alice.id),
        Actor::User(f.bob.id),
        Actor::App(f.bot.id),
    );
    let m1 = say(&f, bot, "one").await;
    let m2 = say(&f, bot, "two").await;
    let m3 = say(&f, alice, "three").await;
    let carol = f
        .core
        .create_user(
            t,
            CreateUser {
                name: "Carol".into(),
                user_id: Some("carol".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();

    f.clock.advance_ms(100);
    let at = f.clock.now_ms();
    let mark = f.core.mark_read(t, f.group.id, bob, 2).await.unwrap();
    assert_eq!((mark.position, mark.at, mark.actor), (2, at, bob));
    f.clock.advance_ms(100);
    let back = f.core.mark_read(t, f.group.id, bob, 1).await.unwrap();
    assert_eq!((back.position, back.at), (2, at), "a mark never moves back");
    let alice_mark = f.core.mark_read(t, f.group.id, alice, 3).await.unwrap();
    assert_eq!(alice_mark.position, 3);
    f.core.mark_read(t, f.group.id, bot, 3).await.unwrap();
    let marks = store.read_marks(f.group.id).await.unwrap();
    assert_eq!(marks.len(), 3);

    let e = f.core.mark_read(t, f.group.id, bob, 4).await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "position",
                ..
            })
        ),
        "{e:?}"
    );
    let e = f.core.mark_read(t, f.group.id, bob, 0).await;
    assert!(
        matches!(
            e,
            Err(Error::Invalid {
                field: "position",
                ..
            })
        ),
        "{e:?}"
    );
    let e = f
        .core
        .mark_read(t, f.group.id, Actor::User(carol.id), 1)
        .await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotMember))),
        "{e:?}"
    );

    // m1 and m2 (the bot's): read by alice and bob; apps are not listed.
    let readers = |id, access| f.core.read_users(t, access, id, 0, 100);
    let r = readers(m2.id, Access::Member(bot)).await.unwrap();
    let who: Vec<Actor> = r.items.iter().map(|x| x.mark.actor).collect();
    let mut want = vec![alice, bob];
    want.sort_by_key(|a| a.raw_id());
    assert_eq!(who, want);
    assert!(matches!(&r.items[0].party, Some(Party::User(_))));
    assert_eq!(r.message.id, m2.id);
    // m3 (alice's): bob has not read that far; alice is its sender.
    let r = readers(m3.id, Access::Member(alice)).await.unwrap();
    assert!(r.items.is_empty(), "{:?}", r.items);
    // Only the sender may ask; the operator may too.
    let e = readers(m1.id, Access::Member(alice)).await;
    assert!(
        matches!(e, Err(Error::Forbidden(Denied::NotSender))),
        "{e:?}"
    );
    let r = readers(m1.id, Access::Admin).await.unwrap();
    assert_eq!(r.items.len(), 2);
    // Paging by user id.
    let p1 = f
        .core
        .read_users(t, Access::Admin, m1.id, 0, 1)
        .await
        .unwrap();
    assert_eq!(p1.items.len(), 1);
    let after = p1.next_after.expect("a second page");
    let p2 = f
        .core
        .read_users(t, Access::Admin, m1.id, after, 1)
        .await
        .unwrap();
    assert_eq!(p2.items.len(), 1);
    assert_ne!(p2.items[0].mark.actor, p1.items[0].mark.actor);
    assert_eq!(p2.next_after, None);
    // A member who leaves is no longer a reader.
    f.core
        .remove_members(t, f.group.id, vec![bob])
        .await
        .unwrap();
    let r = readers(m1.id, Access::Member(bot)).await.unwrap();
    let who: Vec<Actor> = r.items.iter().map(|x| x.mark.actor).collect();
    assert_eq!(who, vec![alice]);
    // Another tenant's marks are out of reach.
    let other = f.core.create_tenant("Other").await.unwrap();
    let e = f.core.mark_read(other.id, f.group.id, alice, 1).await;
    assert!(matches!(e, Err(Error::NotFound(Entity::Chat))), "{e:?}");
}
