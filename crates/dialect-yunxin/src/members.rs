//! Member lists: a team's members (`GET /im/v2.1/teams/{team_id}/actions/list_members`), its
//! online members (always none), and the teams an account is in
//! (`GET /im/v2.1/team_members/{account_id}/actions/joined_teams`).
//!
//! Both page with an opaque token naming the last item served (see [`crate::ids`]), never
//! an offset, so that a join or a leave between two pages neither repeats nor skips
//! anyone. The AppKey acts for its tenant: no operator is named and none is checked.

use crate::auth::Caller;
use crate::error::{ok, YunxinError};
use crate::extract::{YxPath, YxQuery};
use crate::history;
use crate::ids::{self, MemberCursor};
use crate::resolve::{self, account_of};
use crate::teams::{self, kind_of_team_type, opt_long, path_team_id};
use crate::YunxinState;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use switchboard_core::ids::{ChatId, TenantId};
use switchboard_core::input;
use switchboard_core::model::{Actor, Chat, ChatKind, Member, Role};
use switchboard_core::service::MAX_PAGE;
use switchboard_core::store::Page;
use switchboard_core::Core;

/// How many store pages of an account's chats one joined-teams request may read while
/// skipping its p2p chats and teams of the other type.
const MAX_STORE_PAGES: usize = 10;

/// A member's `member_role` (and `team_member_type`): 0 plain member, 1 owner, 2 manager.
fn role_number(r: Role) -> i64 {
    match r {
        Role::Member => 0,
        Role::Owner => 1,
        Role::Admin => 2,
    }
}

/// A small enumerated parameter: absent or empty is `None`, else one of `allowed`.
fn choice(v: &Option<String>, name: &str, allowed: &[i64]) -> Result<Option<i64>, YunxinError> {
    match opt_long(v, name)? {
        Some(n) if !allowed.contains(&n) => Err(YunxinError::param(format!(
            "{name} must be one of {allowed:?}, not {n}"
        ))),
        other => Ok(other),
    }
}

/// The query parameters of the Go SDK (`offset`, `limit`, `next_token`) and of the Java
/// SDK (`member_type`, `chat_banned_type`, `descending`, `page_token`, `limit`).
#[derive(Debug, Deserialize)]
pub struct ListMembersParams {
    team_type: Option<String>,
    member_type: Option<String>,
    chat_banned_type: Option<String>,
    #[serde(default, deserialize_with = "input::opt_bool")]
    descending: Option<bool>,
    page_token: Option<String>,
    next_token: Option<String>,
    offset: Option<String>,
    limit: Option<String>,
}

/// A member as `list_members` answers it. Nicknames and muting do not exist here: every
/// member has an empty `team_nick` and is not `chat_banned`.
#[derive(Debug, Serialize)]
struct TeamMember {
    team_id: i64,
    account_id: String,
    member_role: i64,
    team_nick: &'static str,
    chat_banned: bool,
    join_time: i64,
    update_time: i64,
}

fn cursor(m: &Member) -> MemberCursor {
    MemberCursor {
        joined_at: m.joined_at,
        actor: m.actor,
    }
}

/// Join order, then the party (users before apps, then by id): a total order, so a
/// cursor names one place in it.
fn order_key(c: &MemberCursor) -> (i64, u8, i64) {
    let kind = match c.actor {
        Actor::User(_) => 0,
        Actor::App(_) => 1,
    };
    (c.joined_at, kind, c.actor.raw_id())
}

/// A validated member-list request.
struct MemberQuery {
    team_type: Option<i64>,
    member_type: Option<i64>,
    banned: Option<i64>,
    limit: usize,
    offset: usize,
    descending: bool,
    token: Option<String>,
}

impl TryFrom<ListMembersParams> for MemberQuery {
    type Error = YunxinError;

    fn try_from(q: ListMembersParams) -> Result<Self, YunxinError> {
        let offset = match opt_long(&q.offset, "offset")? {
            None => 0,
            Some(n) if n >= 0 => usize::try_from(n).unwrap_or(usize::MAX),
            Some(n) => {
                return Err(YunxinError::param(format!(
                    "offset must not be negative, not {n}"
                )))
            }
        };
        Ok(MemberQuery {
            team_type: opt_long(&q.team_type, "team_type")?,
            member_type: choice(&q.member_type, "member_type", &[0, 1, 2])?,
            banned: choice(&q.chat_banned_type, "chat_banned_type", &[0, 1, 2])?,
            limit: history::limit(q.limit.as_deref())? as usize,
            offset,
            descending: q.descending.unwrap_or(false),
            // The Java SDK says `page_token`, the Go SDK `next_token`: the same token.
            token: q
                .page_token
                .or(q.next_token)
                .map(|t| t.trim().to_string())
                .filter(|t| !t.is_empty()),
        })
    }
}

impl MemberQuery {
    /// The page of `members` this query asks for, and whether more follow.
    fn page(&self, members: Vec<Member>, after: Option<MemberCursor>) -> (Vec<Member>, bool) {
        let mut kept: Vec<Member> = members
            .into_iter()
            .filter(|m| match self.member_type {
                Some(1) => matches!(m.role, Role::Owner | Role::Admin),
                Some(2) => m.role == Role::Member,
                _ => true,
            })
            // Nobody is muted.
            .filter(|_| self.banned != Some(1))
            .collect();
        kept.sort_by_key(|m| order_key(&cursor(m)));
        if self.descending {
            kept.reverse();
        }
        let rest = kept.into_iter().filter(|m| match &after {
            None => true,
            Some(a) if self.descending => order_key(&cursor(m)) < order_key(a),
            Some(a) => order_key(&cursor(m)) > order_key(a),
        });
        let mut page: Vec<Member> = rest.skip(self.offset).take(self.limit + 1).collect();
        let has_more = page.len() > self.limit;
        page.truncate(self.limit);
        (page, has_more)
    }
}

/// List a team's members: `GET /im/v2.1/teams/{team_id}/actions/list_members?team_type=&limit=&page_token=`
/// (`next_token=` and `offset=` as the Go SDK sends them). Members come in join order
/// (`descending=true`: newest first); `member_type` 1 keeps the owner and managers, 2 the
/// others; `chat_banned_type` 1 keeps muted members (there are none).
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn list_members(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(id): YxPath<String>,
    YxQuery(q): YxQuery<ListMembersParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let id = path_team_id(&id)?;
    let q = MemberQuery::try_from(q)?;
    let chat = teams::team(core, tenant, id, q.team_type).await?;
    let after = match &q.token {
        None => None,
        Some(t) => Some(
            ids::parse_member_token(t, chat.id, q.descending).ok_or_else(|| {
                YunxinError::param(
                    "page_token is not a token this team's member list gave in this order",
                )
            })?,
        ),
    };
    let (page, has_more) = q.page(core.members(tenant, chat.id).await?, after);
    let next_token = match page.last() {
        Some(m) if has_more => ids::member_token(chat.id, cursor(m), q.descending),
        _ => String::new(),
    };
    let mut items = Vec::with_capacity(page.len());
    for m in &page {
        items.push(TeamMember {
            team_id: chat.id.get(),
            account_id: account_of(core, tenant, m.actor).await?,
            member_role: role_number(m.role),
            team_nick: "",
            chat_banned: false,
            join_time: m.joined_at,
            update_time: m.joined_at,
        });
    }
    Ok(ok(ListPage {
        items,
        has_more,
        next_token,
    }))
}

#[derive(Serialize)]
struct ListPage<T: Serialize> {
    items: Vec<T>,
    has_more: bool,
    /// Empty on the last page.
    next_token: String,
}

#[derive(Debug, Deserialize)]
pub struct OnlineParams {
    team_type: Option<String>,
}

/// List a team's online members: `GET /im/v2/teams/{team_id}/actions/list_online_members?team_type=`
/// (the Go SDK's `ListOnlineTeamMembers`). "Online" means logged in through the vendor's
/// client SDKs, which do not exist here, so the list is always empty: `{items: []}`, once
/// the team is known to exist (108404) and be of `team_type` (805).
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn list_online_members(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(id): YxPath<String>,
    YxQuery(q): YxQuery<OnlineParams>,
) -> Result<Response, YunxinError> {
    let id = path_team_id(&id)?;
    let team_type = opt_long(&q.team_type, "team_type")?;
    teams::team(&yx.core, caller.tenant(), id, team_type).await?;
    Ok(ok(serde_json::json!({ "items": [] })))
}

#[derive(Debug, Deserialize)]
pub struct JoinedParams {
    team_type: Option<String>,
    page_token: Option<String>,
    limit: Option<String>,
    need_return_member_info: Option<String>,
}

#[derive(Serialize)]
struct JoinedPage {
    team_info_list: Vec<Value>,
    has_more: bool,
    /// Empty on the last page.
    next_token: String,
}

/// The account's teams from `after`, of `kind` (or both kinds), up to `limit` and whether
/// more follow; at most [`MAX_STORE_PAGES`] store pages are read, after which the list
/// goes on from the last team read.
async fn joined(
    core: &Core,
    tenant: TenantId,
    actor: Actor,
    kind: Option<ChatKind>,
    mut after: i64,
    limit: usize,
) -> Result<(Vec<Chat>, Option<ChatId>), YunxinError> {
    let mut out = Vec::with_capacity(limit);
    for _ in 0..MAX_STORE_PAGES {
        let page = Page {
            after,
            limit: MAX_PAGE,
        };
        let chats = core.chats_of(tenant, actor, page).await?;
        let full = chats.len() >= MAX_PAGE as usize;
        for c in chats {
            after = c.id.get();
            if c.kind != ChatKind::P2p && kind.is_none_or(|k| k == c.kind) {
                if out.len() == limit {
                    let next = out.last().map(|l: &Chat| l.id);
                    return Ok((out, next));
                }
                out.push(c);
            }
        }
        if !full {
            return Ok((out, None));
        }
    }
    Ok((out, Some(ChatId(after))))
}

/// The teams an account is in: `GET /im/v2.1/team_members/{account_id}/actions/joined_teams?team_type=&page_token=&limit=&need_return_member_info=1`,
/// by ascending `team_id`; dissolved teams are left out. Without `team_type`, teams of
/// both types. <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn joined_teams(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(account): YxPath<String>,
    YxQuery(q): YxQuery<JoinedParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let kind = opt_long(&q.team_type, "team_type")?
        .map(kind_of_team_type)
        .transpose()?;
    let limit = history::limit(q.limit.as_deref())? as usize;
    let with_member = choice(
        &q.need_return_member_info,
        "need_return_member_info",
        &[0, 1],
    )? == Some(1);
    let actor = resolve::actor(core, tenant, &account).await?;
    let after = match q
        .page_token
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        None => 0,
        Some(t) => ids::parse_joined_token(t, actor)
            .ok_or_else(|| {
                YunxinError::param("page_token is not a token this account's team list gave")
            })?
            .get(),
    };
    let (chats, next) = joined(core, tenant, actor, kind, after, limit).await?;
    let mut team_info_list = Vec::with_capacity(chats.len());
    for c in &chats {
        let mut info = teams::team_info(core, c).await?;
        if with_member {
            if let Some(m) = core.is_member(c.id, actor).await? {
                info["member_info"] = serde_json::json!({
                    "account_id": account,
                    "team_member_type": role_number(m.role),
                    "team_nick": "",
                    "chat_banned": false,
                    "join_time": m.joined_at,
                });
            }
        }
        team_info_list.push(info);
    }
    Ok(ok(JoinedPage {
        team_info_list,
        has_more: next.is_some(),
        next_token: next
            .map(|n| ids::joined_token(actor, n))
            .unwrap_or_default(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_core::ids::{AppId, UserId};

    #[test]
    fn roles_and_order() {
        assert_eq!(
            [Role::Member, Role::Owner, Role::Admin].map(role_number),
            [0, 1, 2]
        );
        let at = |joined_at, actor| MemberCursor { joined_at, actor };
        let mut v = [
            at(5, Actor::App(AppId(1))),
            at(5, Actor::User(UserId(9))),
            at(1, Actor::App(AppId(3))),
        ];
        v.sort_by_key(order_key);
        assert_eq!(
            v.map(|c| c.actor),
            [
                Actor::App(AppId(3)),
                Actor::User(UserId(9)),
                Actor::App(AppId(1))
            ]
        );
        assert_eq!(
            choice(&Some("3".into()), "member_type", &[0, 1, 2])
                .unwrap_err()
                .code,
            414
        );
        assert_eq!(choice(&None, "member_type", &[0, 1, 2]).unwrap(), None);
    }
}
