//! Conformance: a chat's details change in one write (owner roles included), and the chats
//! of a member list by id, skipping other tenants' and dissolved chats.

use super::*;
use crate::error::{Conflict, Denied, Entity, Error};

pub async fn chats_update_and_list_by_member(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let (alice, bob, bot) = (
        Actor::User(f.alice.id),
        Actor::User(f.bob.id),
        Actor::App(f.bot.id),
    );
    let patch = |name: Option<&str>, description: Option<&str>, owner: Option<Actor>| ChatPatch {
        name: name.map(str::to_string),
        description: description.map(str::to_string),
        owner,
    };

    // A plain member may not rename; the owner may, and the description follows.
    let err = f
        .core
        .update_chat(
            f.tenant.id,
            f.group.id,
            Access::Member(bob),
            patch(Some("X"), None, None),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden(Denied::NotChatAdmin)),
        "{err:?}"
    );
    let c = f
        .core
        .update_chat(
            f.tenant.id,
            f.group.id,
            Access::Member(alice),
            patch(Some("  Ops  "), Some("where things break"), None),
        )
        .await
        .unwrap();
    assert_eq!(
        (c.name.as_str(), c.description.as_str()),
        ("Ops", "where things break")
    );
    let read = store.get_chat(f.group.id).await.unwrap().unwrap();
    assert_eq!(read, c, "the update is what a read answers");

    // An admin may rename but not hand ownership on.
    f.core
        .set_member_role(f.tenant.id, f.group.id, bob, Role::Admin)
        .await
        .unwrap();
    let err = f
        .core
        .update_chat(
            f.tenant.id,
            f.group.id,
            Access::Member(bob),
            patch(None, None, Some(bob)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Forbidden(Denied::NotChatAdmin)),
        "{err:?}"
    );

    // The owner hands on to a member: roles swap in the same write, name untouched.
    let c = f
        .core
        .update_chat(
            f.tenant.id,
            f.group.id,
            Access::Member(alice),
            patch(None, None, Some(bot)),
        )
        .await
        .unwrap();
    assert_eq!((c.owner, c.name.as_str()), (bot, "Ops"));
    let role = |a| {
        let store = store.clone();
        let chat = f.group.id;
        async move { store.get_member(chat, a).await.unwrap().unwrap().role }
    };
    assert_eq!(role(bot).await, Role::Owner);
    assert_eq!(role(alice).await, Role::Member);
    let owners = store
        .list_members(f.group.id)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.role == Role::Owner)
        .count();
    assert_eq!(owners, 1, "exactly one owner");

    // A new owner must be a member already; nothing changes when it is not.
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
    let err = f
        .core
        .update_chat(
            f.tenant.id,
            f.group.id,
            Access::Admin,
            patch(Some("Y"), None, Some(Actor::User(carol.id))),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(Entity::Member)), "{err:?}");
    assert_eq!(
        store.get_chat(f.group.id).await.unwrap().unwrap().name,
        "Ops"
    );
    let err = store
        .update_chat(
            f.group.id,
            patch(Some("Y"), None, Some(Actor::User(carol.id))),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, StoreError::NotFound(Entity::Member)),
        "{err:?}"
    );
    assert_eq!(
        store.get_chat(f.group.id).await.unwrap().unwrap().name,
        "Ops"
    );

    // Bad names and descriptions are refused.
    for bad in [
        patch(Some("  "), None, None),
        patch(None, Some(&"d".repeat(1025)), None),
    ] {
        let err = f
            .core
            .update_chat(f.tenant.id, f.group.id, Access::Admin, bad)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
    }

    // The chats of a member: ascending, paged, p2p included, dissolved and other tenants' not.
    let mut groups = vec![f.group.id];
    for i in 0..3 {
        let g = f
            .core
            .create_chat(
                f.tenant.id,
                CreateChat {
                    kind: ChatKind::Group,
                    name: Some(format!("g{i}")),
                    owner: bob,
                    members: vec![alice],
                },
            )
            .await
            .unwrap();
        groups.push(g.id);
    }
    let p2p = f.core.ensure_p2p(f.tenant.id, alice, bot).await.unwrap();
    let other = f.core.create_tenant("Other").await.unwrap();
    let stranger = f.core.create_app(other.id, "Stranger").await.unwrap();
    let err = f
        .core
        .chats_of(
            f.tenant.id,
            Actor::App(stranger.id),
            Page {
                after: 0,
                limit: 10,
            },
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotFound(_)), "{err:?}");
    f.core
        .dissolve_chat(f.tenant.id, groups[2], Some(bob))
        .await
        .unwrap();

    let ids = |v: Vec<Chat>| v.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let first = f
        .core
        .chats_of(f.tenant.id, alice, Page { after: 0, limit: 2 })
        .await
        .unwrap();
    assert_eq!(ids(first), vec![groups[0], groups[1]]);
    let rest = f
        .core
        .chats_of(
            f.tenant.id,
            alice,
            Page {
                after: groups[1].0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(rest), vec![groups[3], p2p.id], "dissolved chat skipped");
    let bots = f
        .core
        .chats_of(
            f.tenant.id,
            bot,
            Page {
                after: 0,
                limit: 10,
            },
        )
        .await
        .unwrap();
    assert_eq!(ids(bots), vec![f.group.id, p2p.id]);
    assert!(store
        .list_member_chats(
            other.id,
            alice,
            Page {
                after: 0,
                limit: 10
            }
        )
        .await
        .unwrap()
        .is_empty());

    // A dissolved chat cannot change.
    let err = f
        .core
        .update_chat(
            f.tenant.id,
            groups[2],
            Access::Admin,
            patch(Some("Z"), None, None),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Conflict(Conflict::ChatDissolved)),
        "{err:?}"
    );
    let err = f
        .core
        .update_chat(
            f.tenant.id,
            p2p.id,
            Access::Admin,
            patch(Some("Z"), None, None),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid { .. }), "{err:?}");
}
