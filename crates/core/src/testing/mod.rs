//! The store conformance suite. Every `Store` implementation runs all of it through
//! [`store_conformance!`](crate::store_conformance): this suite is the parity test between
//! backends. It covers the store contract directly and the use-case rules of [`Core`] on top
//! of the store.

mod chats;
mod events;
mod files;
mod reactions;
mod rules;
mod store;

pub use chats::*;
pub use events::*;
pub use files::*;
pub use reactions::*;
pub use rules::*;
pub use store::*;

use crate::clock::ManualClock;
use crate::ids::*;
use crate::model::*;
use crate::service::*;
use crate::store::*;
use std::sync::Arc;

/// A store under test plus whatever keeps it alive (a temp dir, a database to drop).
pub struct TestStore {
    pub store: Arc<dyn Store>,
    pub guard: Box<dyn std::any::Any + std::marker::Send + Sync>,
}

/// Generates one `#[tokio::test]` per conformance case. `$factory` is an expression
/// evaluating to an `async fn() -> TestStore`-like closure.
#[macro_export]
macro_rules! store_conformance {
    ($factory:expr) => {
        $crate::store_conformance!(@cases $factory;
            tenants_users_apps,
            user_names_are_unique_per_tenant,
            app_updates,
            chats_and_members,
            chats_update_and_list_by_member,
            p2p_is_unique_and_symmetric,
            positions_are_consecutive,
            concurrent_senders_get_gapless_positions,
            failed_writes_leave_no_gap,
            idempotent_append,
            list_ranges,
            edits_and_removals,
            merge_forward_children_stay_off_the_timeline,
            dissolved_and_unknown_chats,
            nonce_replay,
            batch_append_is_atomic_and_ordered,
            edit_interval_and_extra_are_atomic_preconditions,
            chat_and_member_reads_both,
            chats_and_members_answer_each_pair_in_order,
            chats_with_members_answer_each_chat_in_order,
            documents_upgrade_looks_at_every_row_and_changes_nothing,
            lookup_reads_chat_membership_and_message,
            rules_membership_and_tenancy,
            rules_reply_tree,
            rules_edit_limits,
            rules_recall,
            rules_merge_forward_and_forward,
            rules_send_validation,
            rules_list_access,
            events_changes_follow_writes,
            events_routing_rules,
            events_change_leases_are_exclusive,
            events_delivery_order_and_log,
            events_subscriptions_round_trip,
            events_every_write_records_its_change,
            events_change_seqs_are_never_reused,
            events_change_leases_are_one_owners_at_a_time,
            events_deliveries_round_trip,
            events_deliveries_keep_order_per_app_dialect_and_chat,
            events_subscriptions_upsert_list_and_delete_with_open_deliveries,
            events_subscriptions_routing_and_the_delivery_log_round_trip,
            events_heads_skipped_apps_and_busy_lines_hide_no_one,
            events_heads_move_on_with_each_attempt,
            events_heads_survive_redelivery_unsubscribing_and_pruning,
            files_round_trip_by_tenant,
            files_refused_uploads_write_nothing,
            files_access_by_uploader_and_through_messages,
            reactions_add_list_page_and_delete,
            reactions_and_pins_respect_access_and_state,
            pins_are_one_per_message_windowed_and_paged,
            read_marks_and_readers
        );
    };
    (@cases $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let ts: $crate::testing::TestStore = ($factory)().await;
                $crate::testing::$name(ts.store.clone()).await;
                drop(ts);
            }
        )*
    };
}

/// A tenant with two users, one app and a group holding all three.
pub struct Fixture {
    pub core: Core,
    pub clock: ManualClock,
    pub tenant: Tenant,
    pub alice: User,
    pub bob: User,
    pub bot: App,
    pub group: Chat,
}

pub async fn fixture(store: Arc<dyn Store>) -> Fixture {
    let clock = ManualClock::new(1_700_000_000_000);
    let core = Core::new(store, Arc::new(clock.clone()), CoreConfig::default());
    let tenant = core.create_tenant("Acme").await.unwrap();
    let alice = core
        .create_user(
            tenant.id,
            CreateUser {
                name: "Alice".into(),
                user_id: Some("alice".into()),
                account_id: None,
            },
        )
        .await
        .unwrap();
    let bob = core
        .create_user(
            tenant.id,
            CreateUser {
                name: "Bob".into(),
                user_id: Some("bob".into()),
                account_id: Some("bob_acc".into()),
            },
        )
        .await
        .unwrap();
    let bot = core.create_app(tenant.id, "Bot").await.unwrap();
    let group = core
        .create_chat(
            tenant.id,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("General".into()),
                owner: Actor::User(alice.id),
                members: vec![Actor::User(bob.id), Actor::App(bot.id)],
            },
        )
        .await
        .unwrap();
    Fixture {
        core,
        clock,
        tenant,
        alice,
        bob,
        bot,
        group,
    }
}

pub fn text(s: &str) -> Content {
    Content {
        text: s.to_string(),
        data: serde_json::json!({ "text": s }).into(),
        original: None,
    }
}

pub fn new_text(tenant: TenantId, chat: ChatId, sender: Actor, s: &str, at: Millis) -> NewMessage {
    NewMessage {
        tenant,
        chat,
        sender,
        kind: MessageType::Text,
        content: text(s),
        mentions: vec![],
        created_at: at,
        parent: None,
        root: None,
        thread: None,
        copied_from: None,
        client_msg_id: None,
        idempotency_window_ms: 3_600_000,
        extra: MessageExtra::default(),
    }
}
