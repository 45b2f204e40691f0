//! Routing: which app hears which change, and as which event.

use super::*;

pub async fn events_routing_rules(store: Arc<dyn Store>) {
    let f = fixture(store.clone()).await;
    let alice = Actor::User(f.alice.id);
    let bot = Actor::App(f.bot.id);
    // A second app in the group with the scope for every group message, and a third in
    // another tenant, subscribed to everything.
    let all = f.core.create_app(f.tenant.id, "All").await.unwrap();
    let patch = AppPatch {
        scopes: Some(vec!["all".into()]),
        ..Default::default()
    };
    let all = f.core.update_app(f.tenant.id, all.id, patch).await.unwrap();
    f.core
        .add_members(f.tenant.id, f.group.id, vec![Actor::App(all.id)])
        .await
        .unwrap();
    let other_tenant = f.core.create_tenant("Other").await.unwrap();
    let stranger = f
        .core
        .create_app(other_tenant.id, "Stranger")
        .await
        .unwrap();
    f.core
        .subscribe(SubscribeCmd {
            tenant: other_tenant.id,
            app: stranger.id,
            dialect: "test".into(),
            mode: Mode::Webhook,
            url: "http://127.0.0.1:9/x".into(),
            encrypt_key: String::new(),
            verification_token: String::new(),
            event_types: ALL_TYPES.iter().map(|s| s.to_string()).collect(),
        })
        .await
        .unwrap();
    // Nothing that happened before a subscription is delivered.
    drain_changes(&store, "early").await;
    subscribe(
        &f,
        f.bot.id,
        &[
            "received",
            "recalled",
            "bot_added",
            "bot_removed",
            "users_added",
            "disbanded",
        ],
    )
    .await;
    subscribe(&f, all.id, ALL_TYPES).await;

    let plain = f
        .core
        .send(send(&f, f.group.id, alice, "no mention"))
        .await
        .unwrap()
        .message;
    let mut cmd = send(&f, f.group.id, alice, "hi @bot");
    cmd.mentions = vec![Mention {
        key: "@_user_1".into(),
        target: MentionTarget::App(f.bot.id),
        name: "Bot".into(),
    }];
    let mentioned = f.core.send(cmd).await.unwrap().message;
    let own = f
        .core
        .send(send(&f, f.group.id, bot, "from the bot"))
        .await
        .unwrap()
        .message;
    let p2p = f
        .core
        .send(crate::service::Send::new(
            f.tenant.id,
            Recipient::Direct(bot),
            alice,
            MessageType::Text,
            text("dm"),
        ))
        .await
        .unwrap()
        .message;
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
    f.core
        .add_members(f.tenant.id, f.group.id, vec![Actor::User(carol.id)])
        .await
        .unwrap();
    // Routing reads membership when it runs: route before the bot leaves.
    route_all(&f).await;
    f.core
        .remove_members(f.tenant.id, f.group.id, vec![bot])
        .await
        .unwrap();
    route_all(&f).await;

    let to_bot: Vec<(String, Option<MessageId>)> = deliveries_of(&f, f.bot.id)
        .await
        .into_iter()
        .map(|d| (d.event_type, d.message))
        .collect();
    assert_eq!(
        to_bot,
        vec![
            ("received".to_string(), Some(mentioned.id)),
            ("received".to_string(), Some(p2p.id)),
            ("users_added".to_string(), None),
            ("bot_removed".to_string(), None),
        ],
        "the bot hears mentions and p2p, never its own message nor unmentioned group talk"
    );
    let to_all: Vec<(String, Option<MessageId>)> = deliveries_of(&f, all.id)
        .await
        .into_iter()
        .map(|d| (d.event_type, d.message))
        .collect();
    assert_eq!(
        to_all,
        vec![
            ("received".to_string(), Some(plain.id)),
            ("received".to_string(), Some(mentioned.id)),
            ("received".to_string(), Some(own.id)),
            ("users_added".to_string(), None),
        ],
        "the scoped app hears every group message, not the p2p chat it is not in"
    );
    let q = DeliveryQuery {
        tenant: other_tenant.id,
        app: stranger.id,
        status: None,
        event_type: None,
        before: None,
        limit: 50,
    };
    assert!(
        f.core.deliveries(q).await.unwrap().is_empty(),
        "nothing crosses tenants"
    );
    // Another tenant cannot read an app's deliveries.
    let q = DeliveryQuery {
        tenant: other_tenant.id,
        app: f.bot.id,
        status: None,
        event_type: None,
        before: None,
        limit: 50,
    };
    assert!(f.core.deliveries(q).await.is_err());

    // Event ids: 32 hex, distinct.
    let ds = deliveries_of(&f, all.id).await;
    let mut ids: Vec<&str> = ds.iter().map(|d| d.event_id.as_str()).collect();
    assert!(ids
        .iter()
        .all(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())));
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), ds.len());
    // Dissolving tells every app still in the group.
    f.core
        .dissolve_chat(f.tenant.id, f.group.id, None)
        .await
        .unwrap();
    route_all(&f).await;
    assert_eq!(
        deliveries_of(&f, all.id).await.last().unwrap().event_type,
        "disbanded"
    );
    assert_eq!(
        deliveries_of(&f, f.bot.id).await.len(),
        4,
        "the removed bot hears no more"
    );
}
