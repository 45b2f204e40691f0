//! The Yunxin calls a bot makes around its sends, over real HTTP with every request signed:
//! paged history (`QueryMessagesByPage`) here; team member lists, the teams an account is
//! in, team update and owner transfer in `yunxin_history/teams.rs`. The calls go out as the official Go SDK sends them
//! (`switchboard_testkit::yunxin::QueryMessagesByPage` and its siblings transcribe the
//! SDK's request building); the Java SDK's spellings are sent raw.

use serde_json::{json, Value};
use switchboard_core::ManualClock;
use switchboard_testkit::yunxin::{conv, fails, ok, QueryMessagesByPage, YunxinClient};
use switchboard_testkit::{spawn_app_with, Options, Reply, Seed, TestApp};

/// Member lists, joined teams, team update and owner transfer.
#[path = "yunxin_history/teams.rs"]
mod teams;

const T0: i64 = 1_698_752_272_248;

async fn world() -> (TestApp, Seed) {
    let app = spawn_app_with(Options {
        clock: Some(ManualClock::new(T0)),
        ..Default::default()
    })
    .await;
    let s = app.seed().await;
    (app, s)
}

fn client<'a>(app: &'a TestApp, s: &Seed) -> YunxinClient<'a> {
    YunxinClient::new(app, s.app_id(), s.app_secret())
}

fn clock(app: &TestApp) -> &ManualClock {
    app.clock.as_ref().expect("manual clock")
}

fn n(v: &Value) -> i64 {
    v.as_i64().unwrap_or_else(|| panic!("not an integer: {v}"))
}

fn sent_id(r: &Reply) -> i64 {
    n(&ok(r)["message_server_id"])
}

/// The `message_server_id`s of a history page, in order.
fn ids(d: &Value) -> Vec<i64> {
    d["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {d}"))
        .iter()
        .map(|i| n(&i["message_server_id"]))
        .collect()
}

fn accounts(d: &Value) -> Vec<String> {
    d["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {d}"))
        .iter()
        .map(|i| i["account_id"].as_str().unwrap().to_string())
        .collect()
}

fn token(d: &Value) -> String {
    assert_eq!(d["has_more"], true, "{d}");
    d["next_token"]
        .as_str()
        .unwrap_or_else(|| panic!("no next_token: {d}"))
        .to_string()
}

fn last_page(d: &Value) {
    assert_eq!(d["has_more"], false, "{d}");
    assert_eq!(d["next_token"], "", "{d}");
}

/// An `end_time` after every message of these tests (2100-01-01).
const FAR: i64 = 4_102_444_800_000;

/// The order of a history request. The vendor's `descending` reads the other way round
/// from its name: `true` is chronological order, `false` newest first.
#[derive(Clone, Copy)]
enum Order {
    Oldest,
    Newest,
    /// `descending` left out: newest first.
    Unsaid,
}

/// A request as a bot fills the Go SDK's struct: from the epoch to [`FAR`].
fn history(conversation: &str, limit: i64, order: Order) -> QueryMessagesByPage {
    QueryMessagesByPage {
        conversation_id: conversation.to_string(),
        end_time: FAR,
        limit,
        descending: match order {
            Order::Oldest => Some(true),
            Order::Newest => Some(false),
            Order::Unsaid => None,
        },
        ..Default::default()
    }
}

async fn page(yx: &YunxinClient<'_>, req: &QueryMessagesByPage) -> Value {
    ok(&yx.query_messages_by_page(req).await).clone()
}

async fn team_of(r: Reply) -> i64 {
    n(&ok(&r)["team_info"]["team_id"])
}

#[tokio::test]
async fn p2p_history_pages_both_ways_and_a_send_between_pages_is_neither_lost_nor_repeated() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let (ab, ba) = (conv("alice", 1, "bob"), conv("bob", 1, "alice"));

    // A pair that never exchanged a message has an empty history.
    let d = page(&yx, &history(&ab, 100, Order::Unsaid)).await;
    assert_eq!(d["items"], json!([]));
    last_page(&d);

    let mut m = Vec::new();
    for i in 1..=5 {
        clock(&app).advance_ms(10);
        let c = if i % 2 == 1 { &ab } else { &ba };
        m.push(sent_id(&yx.send_text(c, &format!("m{i}")).await));
    }

    // Ascending, two at a time, with a send between the first and second page.
    let mut req = history(&ab, 2, Order::Oldest);
    let p1 = page(&yx, &req).await;
    assert_eq!(ids(&p1), m[0..2]);
    let first = &p1["items"][0];
    assert_eq!(
        (
            first["conversation_id"].as_str(),
            first["sender_id"].as_str(),
            first["receiver_id"].as_str(),
            first["text"].as_str()
        ),
        (Some("alice|1|bob"), Some("alice"), Some("bob"), Some("m1"))
    );
    assert_eq!(
        (
            n(&first["conversation_type"]),
            n(&first["message_type"]),
            n(&first["create_time"]),
            n(&first["sender_client_type"])
        ),
        (1, 0, T0 + 10, 32)
    );
    assert!(first.get("team_id").is_none(), "{first}");
    assert_eq!(
        (
            p1["items"][1]["sender_id"].as_str(),
            p1["items"][1]["receiver_id"].as_str()
        ),
        (Some("bob"), Some("alice"))
    );
    clock(&app).advance_ms(10);
    m.push(sent_id(&yx.send_text(&ba, "m6").await));
    req.page_token = token(&p1);
    let p2 = page(&yx, &req).await;
    assert_eq!(ids(&p2), m[2..4]);
    req.page_token = token(&p2);
    let p3 = page(&yx, &req).await;
    assert_eq!(
        ids(&p3),
        m[4..6],
        "the message sent between pages comes last"
    );
    last_page(&p3);

    // Descending: newest first; a send between pages does not shift the pages already
    // asked for, and a fresh read starts with it.
    let mut req = history(&ab, 2, Order::Newest);
    let p1 = page(&yx, &req).await;
    assert_eq!(ids(&p1), [m[5], m[4]]);
    clock(&app).advance_ms(10);
    m.push(sent_id(&yx.send_text(&ab, "m7").await));
    req.page_token = token(&p1);
    let p2 = page(&yx, &req).await;
    assert_eq!(ids(&p2), [m[3], m[2]]);
    req.page_token = token(&p2);
    let p3 = page(&yx, &req).await;
    assert_eq!(ids(&p3), [m[1], m[0]]);
    last_page(&p3);

    // No order given: newest first.
    let all = page(&yx, &history(&ab, 100, Order::Unsaid)).await;
    let mut newest_first = m.clone();
    newest_first.reverse();
    assert_eq!(ids(&all), newest_first);
    last_page(&all);
    // The Go SDK's zero values are sent as they are: `limit=0` is the vendor's 414, and
    // `end_time=0` ends the range at the epoch. Left out altogether, the page size is 100
    // and the range unbounded.
    fails(
        &yx.query_messages_by_page(&QueryMessagesByPage {
            conversation_id: ab.clone(),
            ..Default::default()
        })
        .await,
        414,
    );
    let mut epoch = history(&ab, 100, Order::Unsaid);
    epoch.end_time = 0;
    assert_eq!(ids(&page(&yx, &epoch).await), Vec::<i64>::new());
    let r = yx
        .get(&format!("/im/v2.1/conversations/{ab}/messages"))
        .await;
    assert_eq!(ids(ok(&r)), newest_first);

    // The other side's view of the same pair, and the /im/v2 prefix, raw pipes.
    let d = page(&yx, &history(&ba, 3, Order::Oldest)).await;
    assert_eq!(ids(&d), m[0..3]);
    assert_eq!(d["items"][0]["conversation_id"], "bob|1|alice");
    let r = yx
        .get("/im/v2/conversations/bob|1|alice/messages?limit=7&descending=true")
        .await;
    assert_eq!(ids(ok(&r)), m);
    last_page(ok(&r));
}

#[tokio::test]
async fn a_sparse_filter_ends_pages_early_but_loses_nothing() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let team = team_of(yx.create_team("alice", 1, "Sparse", &["bob"]).await).await;
    let ta = conv("alice", 2, team);
    let custom = |i: i64| json!({ "message": { "message_type": 100, "attachment": { "i": i } } });
    let mut wanted = vec![sent_id(&yx.send(&ta, custom(0)).await)];
    for i in 0..45 {
        ok(&yx.send_text(&ta, &format!("filler {i}")).await);
    }
    wanted.push(sent_id(&yx.send(&ta, custom(1)).await));

    // One match per page at most; the store is read a bounded number of pages per
    // request, so between the two matches some pages come back empty, with a token.
    let mut req = history(&ta, 1, Order::Oldest);
    req.message_type = "100".into();
    let mut seen = Vec::new();
    let mut empty_pages = 0;
    for _ in 0..50 {
        let d = page(&yx, &req).await;
        let got = ids(&d);
        empty_pages += usize::from(got.is_empty());
        seen.extend(got);
        if d["has_more"] == false {
            last_page(&d);
            break;
        }
        req.page_token = token(&d);
    }
    assert_eq!(seen, wanted);
    assert!(empty_pages > 0, "the filler outruns one request's scan");

    // A bot's own p2p conversation, named by its app id.
    let bot = s.app_id();
    let id = sent_id(&yx.send_text(&conv(bot, 1, "alice"), "from the bot").await);
    let d = page(&yx, &history(&conv("alice", 1, bot), 100, Order::Unsaid)).await;
    assert_eq!(ids(&d), [id]);
    assert_eq!(
        (
            d["items"][0]["sender_id"].as_str(),
            d["items"][0]["receiver_id"].as_str()
        ),
        (Some(bot), Some("alice"))
    );
}

/// alice's advanced team with bob, and five messages from alice at `T0 + 100 * i`: texts
/// at 100, 300, 500 and custom messages (100) at 200 and 400.
async fn team_with_history(app: &TestApp, yx: &YunxinClient<'_>) -> (i64, Vec<i64>) {
    let team = team_of(yx.create_team("alice", 1, "History", &["bob"]).await).await;
    let ta = conv("alice", 2, team);
    let mut m = Vec::new();
    for i in 1..=5 {
        clock(app).set_ms(T0 + 100 * i);
        let body = if i % 2 == 1 {
            json!({ "message": { "message_type": 0, "text": format!("t{i}") } })
        } else {
            json!({ "message": { "message_type": 100, "attachment": { "i": i } } })
        };
        m.push(sent_id(&yx.send(&ta, body).await));
    }
    (team, m)
}

#[tokio::test]
async fn team_history_filters_by_time_and_type_and_hides_what_was_recalled() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let (team, m) = team_with_history(&app, &yx).await;
    let (ta, tb) = (conv("alice", 2, team), conv("bob", 2, team));

    let d = page(&yx, &history(&tb, 100, Order::Oldest)).await;
    assert_eq!(ids(&d), m);
    let item = &d["items"][1];
    assert_eq!(
        (
            n(&item["team_id"]),
            n(&item["conversation_type"]),
            n(&item["message_type"])
        ),
        (team, 2, 100)
    );
    assert_eq!(item["attachment"], json!({ "i": 2 }));
    assert_eq!(item["conversation_id"], format!("bob|2|{team}"));
    assert!(item.get("receiver_id").is_none(), "{item}");

    // Time bounds are inclusive, either may be left out (0 is "unset").
    let window = |begin_time, end_time, newest_first: bool| QueryMessagesByPage {
        conversation_id: ta.clone(),
        begin_time,
        end_time,
        limit: 100,
        descending: Some(!newest_first),
        ..Default::default()
    };
    assert_eq!(
        ids(&page(&yx, &window(T0 + 200, T0 + 400, false)).await),
        m[1..4]
    );
    assert_eq!(
        ids(&page(&yx, &window(T0 + 200, T0 + 400, true)).await),
        [m[3], m[2], m[1]]
    );
    assert_eq!(ids(&page(&yx, &window(0, T0 + 200, false)).await), m[0..2]);
    assert_eq!(
        ids(&page(&yx, &window(T0 + 400, FAR, false)).await),
        m[3..5]
    );
    assert_eq!(
        ids(&page(&yx, &window(T0 + 201, T0 + 299, false)).await),
        Vec::<i64>::new()
    );
    // Paging inside a window stays inside it.
    let mut req = window(T0 + 200, T0 + 500, true);
    req.limit = 2;
    let p1 = page(&yx, &req).await;
    assert_eq!(ids(&p1), [m[4], m[3]]);
    req.page_token = token(&p1);
    let p2 = page(&yx, &req).await;
    assert_eq!(ids(&p2), [m[2], m[1]]);
    last_page(&p2);

    // message_type: comma separated; paging skips what the filter drops.
    let mut req = history(&ta, 1, Order::Oldest);
    req.message_type = "100".into();
    let p1 = page(&yx, &req).await;
    assert_eq!(ids(&p1), [m[1]]);
    req.page_token = token(&p1);
    let p2 = page(&yx, &req).await;
    assert_eq!(ids(&p2), [m[3]]);
    last_page(&p2);
    let mut req = history(&ta, 100, Order::Oldest);
    req.message_type = "0,100".into();
    assert_eq!(ids(&page(&yx, &req).await), m);
    req.message_type = "1".into();
    assert_eq!(ids(&page(&yx, &req).await), Vec::<i64>::new());

    // A two-way recall hides the message from everyone; a one-way recall from the
    // receivers only, so the sender still reads it.
    clock(&app).set_ms(T0 + 510);
    ok(&yx.withdraw(&ta, m[2], 2, "").await);
    ok(&yx.withdraw(&ta, m[4], 1, "").await);
    assert_eq!(
        ids(&page(&yx, &history(&ta, 100, Order::Oldest)).await),
        [m[0], m[1], m[3], m[4]]
    );
    assert_eq!(
        ids(&page(&yx, &history(&tb, 100, Order::Oldest)).await),
        [m[0], m[1], m[3]]
    );
    // Dropped messages do not break paging.
    let mut req = history(&tb, 2, Order::Oldest);
    let p1 = page(&yx, &req).await;
    assert_eq!(ids(&p1), [m[0], m[1]]);
    req.page_token = token(&p1);
    let p2 = page(&yx, &req).await;
    assert_eq!(ids(&p2), [m[3]]);
    last_page(&p2);
}

#[tokio::test]
async fn bad_limits_times_and_cursors_are_parameter_errors() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let (team, _) = team_with_history(&app, &yx).await;
    let ta = conv("alice", 2, team);
    let ab = conv("alice", 1, "bob");
    ok(&yx.send_text(&ab, "hi").await);
    ok(&yx.send_text(&ab, "there").await);

    let team_asc = token(&page(&yx, &history(&ta, 1, Order::Oldest)).await);
    let team_desc = token(&page(&yx, &history(&ta, 1, Order::Newest)).await);
    let p2p_asc = token(&page(&yx, &history(&ab, 1, Order::Oldest)).await);
    let mut bent = team_asc.clone().into_bytes();
    bent[5] = if bent[5] == b'A' { b'B' } else { b'A' };
    let bent = String::from_utf8(bent).unwrap();

    let get = |qs: String| {
        let ta = ta.clone();
        let yx = &yx;
        async move {
            yx.get(&format!("/im/v2.1/conversations/{ta}/messages?{qs}"))
                .await
        }
    };
    for qs in [
        "limit=101".to_string(),
        // The vendor: "less than or equal to 0, or more than 100, is 414" (so the Go
        // SDK's zero value is refused).
        "limit=0".into(),
        "limit=-1".into(),
        "limit=ten".into(),
        "limit=1.5".into(),
        "begin_time=-1".into(),
        "end_time=abc".into(),
        format!("begin_time={}&end_time={}", T0 + 300, T0 + 200),
        "message_type=x".into(),
        "message_type=0,7".into(),
        "descending=maybe".into(),
        "page_token=garbage".into(),
        "page_token=0000000000000000".into(),
        format!("page_token={bent}"),
        format!("page_token={p2p_asc}&descending=true"),
        // A token keeps to the order it was given in.
        format!("page_token={team_asc}&descending=false"),
        format!("page_token={team_desc}&descending=true"),
        // No order given means newest first: an ascending token does not fit it.
        format!("page_token={team_asc}"),
        format!("page_token={team_asc}%00"),
    ] {
        fails(&get(qs.clone()).await, 414);
    }
    // The team's token on the p2p conversation, and on a pair with no history yet.
    let r = yx
        .get(&format!(
            "/im/v2.1/conversations/{ab}/messages?descending=true&page_token={team_asc}"
        ))
        .await;
    fails(&r, 414);
    let ac = conv("alice", 1, s.app_id());
    let r = yx
        .get(&format!(
            "/im/v2.1/conversations/{ac}/messages?page_token={team_asc}"
        ))
        .await;
    fails(&r, 414);
    // Malformed conversation ids.
    for c in [
        "alice%7C9%7Cbob".to_string(),
        "alice%7C1".into(),
        format!("alice%7C2%7Cx{team}"),
        format!("alice%7C3%7C{team}"),
        "alice%7C1%7Calice".into(),
    ] {
        fails(
            &yx.get(&format!("/im/v2.1/conversations/{c}/messages"))
                .await,
            414,
        );
    }
    // The tokens still work where they belong.
    let r = get(format!("page_token={team_asc}&descending=true&limit=1")).await;
    assert_eq!(ok(&r)["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn history_is_refused_to_non_members_other_tenants_and_for_gone_teams() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let (team, m) = team_with_history(&app, &yx).await;
    ok(&yx.create_account("carol", "Carol").await);

    // Not a member: 804; kicked: 804 from then on.
    fails(
        &yx.query_messages_by_page(&history(&conv("carol", 2, team), 100, Order::Unsaid))
            .await,
        804,
    );
    // Unless check_team_valid=false, which on an advanced team only asks that it exist
    // (the vendor's documented meaning) ...
    let carol = conv("carol", 2, team);
    let r = yx
        .get(&format!(
            "/im/v2.1/conversations/{carol}/messages?check_team_valid=false&descending=true"
        ))
        .await;
    assert_eq!(ids(ok(&r)), m);
    // ... and is ignored on a super team.
    let st = team_of(yx.create_team("alice", 2, "Super", &["bob"]).await).await;
    ok(&yx.send_text(&conv("bob", 3, st), "super").await);
    let carol_st = conv("carol", 3, st);
    fails(
        &yx.get(&format!(
            "/im/v2.1/conversations/{carol_st}/messages?check_team_valid=false"
        ))
        .await,
        804,
    );
    let d = page(&yx, &history(&conv("alice", 3, st), 100, Order::Unsaid)).await;
    assert_eq!(d["items"][0]["text"], "super");
    assert_eq!(d["items"][0]["conversation_type"], 3);
    ok(&yx.kick("alice", team, 1, &["bob"]).await);
    fails(
        &yx.query_messages_by_page(&history(&conv("bob", 2, team), 100, Order::Unsaid))
            .await,
        804,
    );
    // A team that does not exist, or a team id that names none: 108404; an unknown
    // account: 404.
    for c in [
        conv("alice", 2, 999_999),
        conv("alice", 2, 9_000_000_000i64),
    ] {
        fails(
            &yx.query_messages_by_page(&history(&c, 100, Order::Unsaid))
                .await,
            108404,
        );
    }
    fails(
        &yx.query_messages_by_page(&history(&conv("nobody", 2, team), 100, Order::Unsaid))
            .await,
        404,
    );

    // Another tenant, with an account of the same name: it sees no such team, and a
    // token of this tenant's team means nothing on its own team.
    let other = app.create_tenant("Other").await;
    app.create_user(&other, "Other Alice", "alice").await;
    app.create_user(&other, "Other Bob", "bob").await;
    let bot = app.create_app(&other, "Other bot").await;
    let yb = YunxinClient::new(
        &app,
        bot["app_id"].as_str().unwrap(),
        bot["app_secret"].as_str().unwrap(),
    );
    fails(
        &yb.query_messages_by_page(&history(&conv("alice", 2, team), 100, Order::Unsaid))
            .await,
        108404,
    );
    fails(
        &yb.query_messages_by_page(&history(&conv("carol", 1, "alice"), 100, Order::Unsaid))
            .await,
        404,
    );
    let theirs = team_of(yb.create_team("alice", 1, "Theirs", &["bob"]).await).await;
    ok(&yb.send_text(&conv("alice", 2, theirs), "ours").await);
    ok(&yb.send_text(&conv("alice", 2, theirs), "ours too").await);
    let mine = token(&page(&yx, &history(&conv("alice", 2, team), 1, Order::Oldest)).await);
    let mut req = history(&conv("alice", 2, theirs), 1, Order::Oldest);
    req.page_token = mine;
    fails(&yb.query_messages_by_page(&req).await, 414);
    // Their own history is theirs alone.
    let d = page(&yb, &history(&conv("bob", 2, theirs), 100, Order::Oldest)).await;
    assert_eq!(d["items"].as_array().map(Vec::len), Some(2));
    assert!(ids(&d).iter().all(|id| !m.contains(id)));

    // A dissolved team: 108404 by default (check_team_valid defaults to true); its
    // history stays readable to members with check_team_valid=false.
    ok(&yx
        .delete(&format!(
            "/im/v2.1/teams/{team}?team_type=1&operator_id=alice"
        ))
        .await);
    let ta = conv("alice", 2, team);
    fails(
        &yx.query_messages_by_page(&history(&ta, 100, Order::Unsaid))
            .await,
        108404,
    );
    let r = yx
        .get(&format!(
            "/im/v2.1/conversations/{ta}/messages?check_team_valid=false&descending=true"
        ))
        .await;
    assert_eq!(ids(ok(&r)), m);
}
