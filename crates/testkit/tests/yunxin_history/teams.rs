//! Team member lists (both SDKs' parameters), online members, the teams an account is in,
//! team update and owner transfer.

use super::*;
use reqwest::Method;
use switchboard_testkit::yunxin::{ListTeamMembers, QueryJoinedTeams};

#[tokio::test]
async fn team_members_page_in_join_order_through_joins_and_kicks() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    let names = ["m1", "m2", "m3", "m4", "m5", "m6"];
    for a in names {
        ok(&yx.create_account(a, a).await);
    }
    let team = team_of(yx.create_team("alice", 1, "Members", &["bob"]).await).await;
    for a in &names[..5] {
        clock(&app).advance_ms(10);
        ok(&yx.invite("alice", team, 1, &[a]).await);
    }

    // The Go SDK: next_token, limit.
    let mut req = ListTeamMembers {
        team_id: team,
        team_type: 1,
        limit: 2,
        ..Default::default()
    };
    let p1 = ok(&yx.list_team_members(&req).await).clone();
    assert_eq!(accounts(&p1), ["alice", "bob"]);
    let owner = &p1["items"][0];
    assert_eq!(
        (
            n(&owner["team_id"]),
            n(&owner["member_role"]),
            n(&owner["join_time"])
        ),
        (team, 1, T0)
    );
    assert_eq!(owner["chat_banned"], false);
    assert_eq!(p1["items"][1]["member_role"], 0);
    // A join and two kicks between pages: nobody served twice, nobody skipped.
    clock(&app).advance_ms(10);
    ok(&yx.invite("alice", team, 1, &["m6"]).await);
    req.next_token = token(&p1);
    let p2 = ok(&yx.list_team_members(&req).await).clone();
    assert_eq!(accounts(&p2), ["m1", "m2"]);
    assert_eq!(n(&p2["items"][1]["join_time"]), T0 + 20);
    ok(&yx.kick("alice", team, 1, &["m1", "m3"]).await);
    req.next_token = token(&p2);
    let p3 = ok(&yx.list_team_members(&req).await).clone();
    assert_eq!(accounts(&p3), ["m4", "m5"]);
    req.next_token = token(&p3);
    let p4 = ok(&yx.list_team_members(&req).await).clone();
    assert_eq!(accounts(&p4), ["m6"]);
    last_page(&p4);

    // The Go SDK's offset, and no limit: everyone after the skipped ones.
    let req = ListTeamMembers {
        team_id: team,
        team_type: 1,
        offset: 1,
        ..Default::default()
    };
    let d = ok(&yx.list_team_members(&req).await).clone();
    assert_eq!(accounts(&d), ["bob", "m2", "m4", "m5", "m6"]);
    last_page(&d);

    // The Java SDK: page_token, descending, member_type.
    let base = format!("/im/v2.1/teams/{team}/actions/list_members?team_type=1");
    let r = yx
        .get(&format!("{base}&descending=true&member_type=2&limit=3"))
        .await;
    let d = ok(&r).clone();
    assert_eq!(accounts(&d), ["m6", "m5", "m4"]);
    let r = yx
        .get(&format!(
            "{base}&descending=true&member_type=2&limit=3&page_token={}",
            token(&d)
        ))
        .await;
    assert_eq!(accounts(ok(&r)), ["m2", "bob"]);
    last_page(ok(&r));
    let r = yx.get(&format!("{base}&member_type=1")).await;
    assert_eq!(accounts(ok(&r)), ["alice"]);
    let r = yx.get(&format!("{base}&chat_banned_type=1")).await;
    assert_eq!(accounts(ok(&r)), Vec::<String>::new());
    let r = yx.get(&format!("{base}&chat_banned_type=2")).await;
    assert_eq!(ok(&r)["items"].as_array().map(Vec::len), Some(6));
    // Under /im/v2 too.
    let r = yx
        .get(&format!("/im/v2/teams/{team}/actions/list_members?limit=1"))
        .await;
    assert_eq!(accounts(ok(&r)), ["alice"]);

    // Nobody is online: there are no client SDK logins here.
    assert_eq!(
        ok(&yx.list_online_team_members(team, 1).await),
        &json!({ "items": [] })
    );
    fails(&yx.list_online_team_members(team, 2).await, 805);
    fails(&yx.list_online_team_members(999_999, 1).await, 108404);

    // Bad requests.
    let other = team_of(yx.create_team("bob", 1, "Other", &["m2"]).await).await;
    let r = yx
        .get(&format!(
            "/im/v2.1/teams/{other}/actions/list_members?limit=1"
        ))
        .await;
    let other_token = token(ok(&r));
    let asc_token = token(&p1);
    for qs in [
        "limit=101".to_string(),
        "limit=-2".into(),
        "offset=-1".into(),
        "offset=x".into(),
        "member_type=3".into(),
        "chat_banned_type=9".into(),
        "descending=sideways".into(),
        "team_type=x".into(),
        "next_token=garbage".into(),
        format!("next_token={other_token}"),
        format!("page_token={other_token}"),
        format!("page_token={asc_token}&descending=true"),
    ] {
        let r = yx
            .get(&format!("/im/v2.1/teams/{team}/actions/list_members?{qs}"))
            .await;
        fails(&r, 414);
    }
    fails(
        &yx.get(&format!(
            "/im/v2.1/teams/{team}/actions/list_members?team_type=2"
        ))
        .await,
        805,
    );
    fails(&yx.get("/im/v2.1/teams/x1/actions/list_members").await, 414);
    fails(
        &yx.get("/im/v2.1/teams/999999/actions/list_members").await,
        108404,
    );

    // Another tenant does not see the team.
    let t2 = app.create_tenant("Other").await;
    let bot = app.create_app(&t2, "Other bot").await;
    let yb = YunxinClient::new(
        &app,
        bot["app_id"].as_str().unwrap(),
        bot["app_secret"].as_str().unwrap(),
    );
    let req = ListTeamMembers {
        team_id: team,
        team_type: 1,
        ..Default::default()
    };
    fails(&yb.list_team_members(&req).await, 108404);

    // A dissolved team has no member list.
    ok(&yx
        .delete(&format!(
            "/im/v2.1/teams/{team}?team_type=1&operator_id=alice"
        ))
        .await);
    fails(&yx.list_team_members(&req).await, 108404);
}

async fn team_info(yx: &YunxinClient<'_>, team: i64) -> Value {
    ok(&yx.get(&format!("/im/v2.1/teams/{team}?team_type=1")).await)["team_info"].clone()
}

/// Every member's account and `member_role`, in join order.
async fn roles(yx: &YunxinClient<'_>, team: i64) -> Vec<(String, i64)> {
    let req = ListTeamMembers {
        team_id: team,
        team_type: 1,
        ..Default::default()
    };
    let d = ok(&yx.list_team_members(&req).await).clone();
    d["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["account_id"].as_str().unwrap().to_string(),
                n(&m["member_role"]),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_team_is_renamed_described_and_handed_on() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    for a in ["carol", "dave"] {
        ok(&yx.create_account(a, a).await);
    }
    let team = team_of(
        yx.create_team("alice", 1, "Before", &["bob", "carol"])
            .await,
    )
    .await;

    let d = ok(&yx
        .update_team(team, "alice", 1, "After", "What we do")
        .await)
    .clone();
    assert_eq!(
        (
            d["team_info"]["name"].as_str(),
            d["team_info"]["intro"].as_str(),
            n(&d["team_info"]["team_id"])
        ),
        (Some("After"), Some("What we do"), team)
    );
    let i = team_info(&yx, team).await;
    assert_eq!(
        (i["name"].as_str(), i["intro"].as_str()),
        (Some("After"), Some("What we do"))
    );
    // Only the name: the intro stays.
    ok(&yx.update_team(team, "alice", 1, "Again", "").await);
    let i = team_info(&yx, team).await;
    assert_eq!(
        (i["name"].as_str(), i["intro"].as_str()),
        (Some("Again"), Some("What we do"))
    );

    // Refusals, each writing nothing.
    fails(&yx.update_team(team, "bob", 1, "Bob's", "").await, 802);
    fails(&yx.update_team(team, "dave", 1, "Dave's", "").await, 804);
    fails(&yx.update_team(team, "nobody", 1, "X", "").await, 404);
    fails(&yx.update_team(team, "alice", 2, "X", "").await, 805);
    fails(&yx.update_team(999_999, "alice", 1, "X", "").await, 108404);
    fails(&yx.update_team(team, "", 1, "X", "").await, 414);
    let blank = json!({ "operator_id": "alice", "team_type": 1, "name": "   " });
    fails(
        &yx.patch(&format!("/im/v2.1/teams/{team}"), blank).await,
        414,
    );
    let long = json!({ "operator_id": "alice", "team_type": 1, "intro": "x".repeat(1025) });
    fails(
        &yx.patch(&format!("/im/v2.1/teams/{team}"), long).await,
        414,
    );
    let i = team_info(&yx, team).await;
    assert_eq!(
        (i["name"].as_str(), i["owner_account_id"].as_str()),
        (Some("Again"), Some("alice"))
    );

    // Owner transfer: the new owner must be a member; the old one stays (leave=2) ...
    fails(&yx.transfer_owner(team, 1, "dave", 2).await, 804);
    fails(&yx.transfer_owner(team, 1, "nobody", 2).await, 404);
    fails(&yx.transfer_owner(team, 1, "bob", 3).await, 414);
    fails(&yx.transfer_owner(team, 2, "bob", 2).await, 805);
    let missing = json!({ "team_type": 1, "leave": 2 });
    fails(
        &yx.patch(
            &format!("/im/v2/teams/{team}/actions/transfer_owner"),
            missing,
        )
        .await,
        414,
    );
    assert_eq!(ok(&yx.transfer_owner(team, 1, "bob", 2).await), &json!({}));
    assert_eq!(team_info(&yx, team).await["owner_account_id"], "bob");
    assert_eq!(
        roles(&yx, team).await,
        [
            ("alice".to_string(), 0),
            ("bob".into(), 1),
            ("carol".into(), 0)
        ]
    );
    // ... and is now a plain member.
    fails(&yx.update_team(team, "alice", 1, "Mine", "").await, 802);
    ok(&yx.update_team(team, "bob", 1, "Bob's", "").await);
    // Naming the current owner changes nothing.
    ok(&yx.transfer_owner(team, 1, "bob", 1).await);
    assert_eq!(roles(&yx, team).await.len(), 3);
    // leave=1: the old owner leaves the team.
    ok(&yx.transfer_owner(team, 1, "carol", 1).await);
    assert_eq!(
        roles(&yx, team).await,
        [("alice".to_string(), 0), ("carol".into(), 1)]
    );
    assert_eq!(team_info(&yx, team).await["owner_account_id"], "carol");

    // Another tenant cannot touch it; a dissolved team cannot change.
    let t2 = app.create_tenant("Other").await;
    app.create_user(&t2, "Other Carol", "carol").await;
    let bot = app.create_app(&t2, "Other bot").await;
    let yb = YunxinClient::new(
        &app,
        bot["app_id"].as_str().unwrap(),
        bot["app_secret"].as_str().unwrap(),
    );
    fails(&yb.update_team(team, "carol", 1, "Taken", "").await, 108404);
    fails(&yb.transfer_owner(team, 1, "carol", 2).await, 108404);
    ok(&yx
        .delete(&format!(
            "/im/v2.1/teams/{team}?team_type=1&operator_id=carol"
        ))
        .await);
    fails(&yx.update_team(team, "carol", 1, "Late", "").await, 108404);
    fails(&yx.transfer_owner(team, 1, "alice", 2).await, 108404);
    let t = &s.tenant["id"];
    let chat = app
        .admin_ok(Method::GET, &format!("/tenants/{t}/chats/{team}"), None)
        .await;
    assert_eq!(chat["name"], "Bob's", "{chat}");
}

#[tokio::test]
async fn joined_teams_lists_an_accounts_live_teams_by_page() {
    let (app, s) = world().await;
    let yx = client(&app, &s);
    ok(&yx.create_account("carol", "Carol").await);
    // The seed's group "General" is alice's first advanced team.
    let general = n(&s.group["id"]);
    let a1 = team_of(yx.create_team("alice", 1, "A1", &["bob"]).await).await;
    let st = team_of(yx.create_team("alice", 2, "Super", &[]).await).await;
    let gone = team_of(yx.create_team("alice", 1, "Gone", &[]).await).await;
    let a2 = team_of(yx.create_team("bob", 1, "A2", &["alice"]).await).await;
    let not_hers = team_of(yx.create_team("bob", 1, "Bob's", &["carol"]).await).await;
    let a3 = team_of(yx.create_team("carol", 1, "A3", &["alice"]).await).await;
    ok(&yx
        .send_text(&conv("alice", 1, "carol"), "a p2p chat is no team")
        .await);
    ok(&yx
        .delete(&format!(
            "/im/v2.1/teams/{gone}?team_type=1&operator_id=alice"
        ))
        .await);

    let team_ids = |d: &Value| -> Vec<i64> {
        d["team_info_list"]
            .as_array()
            .unwrap_or_else(|| panic!("{d}"))
            .iter()
            .map(|t| n(&t["team_id"]))
            .collect()
    };
    let mut req = QueryJoinedTeams {
        account_id: "alice".into(),
        team_type: 1,
        limit: 2,
        ..Default::default()
    };
    let p1 = ok(&yx.query_joined_teams(&req).await).clone();
    assert_eq!(team_ids(&p1), [general, a1]);
    assert_eq!(p1["team_info_list"][1]["name"], "A1");
    assert_eq!(p1["team_info_list"][1]["owner_account_id"], "alice");
    assert!(p1["team_info_list"][0].get("member_info").is_none());
    req.page_token = token(&p1);
    let p2 = ok(&yx.query_joined_teams(&req).await).clone();
    assert_eq!(team_ids(&p2), [a2, a3]);
    last_page(&p2);
    assert!(!team_ids(&p2).contains(&not_hers));

    let req = QueryJoinedTeams {
        account_id: "alice".into(),
        team_type: 2,
        need_return_member_info: Some(1),
        ..Default::default()
    };
    let d = ok(&yx.query_joined_teams(&req).await).clone();
    assert_eq!(team_ids(&d), [st]);
    let mi = &d["team_info_list"][0]["member_info"];
    assert_eq!(
        (mi["account_id"].as_str(), n(&mi["team_member_type"])),
        (Some("alice"), 1)
    );
    let req = QueryJoinedTeams {
        account_id: "bob".into(),
        team_type: 1,
        need_return_member_info: Some(1),
        ..Default::default()
    };
    let d = ok(&yx.query_joined_teams(&req).await).clone();
    assert_eq!(team_ids(&d), [general, a1, a2, not_hers]);
    assert_eq!(d["team_info_list"][1]["member_info"]["team_member_type"], 0);
    // Without team_type (the Java SDK may leave it out): both types.
    let r = yx
        .get("/im/v2.1/team_members/alice/actions/joined_teams")
        .await;
    assert_eq!(team_ids(ok(&r)), [general, a1, st, a2, a3]);

    // Bad requests.
    let alice_token = token(&p1);
    let base = "/im/v2.1/team_members";
    for path in [
        format!("{base}/bob/actions/joined_teams?team_type=1&page_token={alice_token}"),
        format!("{base}/alice/actions/joined_teams?team_type=1&page_token=nonsense"),
        format!("{base}/alice/actions/joined_teams?team_type=3"),
        format!("{base}/alice/actions/joined_teams?limit=101"),
        format!("{base}/alice/actions/joined_teams?need_return_member_info=7"),
    ] {
        fails(&yx.get(&path).await, 414);
    }
    fails(
        &yx.get(&format!("{base}/nobody/actions/joined_teams?team_type=1"))
            .await,
        404,
    );
    // Another tenant's alice is in none of these teams.
    let t2 = app.create_tenant("Other").await;
    app.create_user(&t2, "Other Alice", "alice").await;
    let bot = app.create_app(&t2, "Other bot").await;
    let yb = YunxinClient::new(
        &app,
        bot["app_id"].as_str().unwrap(),
        bot["app_secret"].as_str().unwrap(),
    );
    let req = QueryJoinedTeams {
        account_id: "alice".into(),
        team_type: 1,
        ..Default::default()
    };
    let d = ok(&yb.query_joined_teams(&req).await).clone();
    assert_eq!(team_ids(&d), Vec::<i64>::new());
    last_page(&d);
    let mut req = req;
    req.page_token = alice_token;
    fails(&yb.query_joined_teams(&req).await, 414);
}
