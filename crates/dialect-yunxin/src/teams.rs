//! Teams and team members. A team is a group chat of the tenant: `team_type` 1 (advanced)
//! is a `Group`, 2 (super) a `SuperGroup`; its `team_id` is the canonical chat id. Note the
//! numbering differs from conversation types (2 advanced, 3 super).
//!
//! Only the name, `intro` (the chat's description, set by an update), owner and members
//! are stored; `icon`, `announcement`, extensions and `configuration` are accepted and not
//! kept.

use crate::auth::Caller;
use crate::error::{code, ok, ok_empty, YunxinError};
use crate::extract::{parse_long, Long, YxJson, YxPath, YxQuery};
use crate::ids::{parse_team_id, team_of_long};
use crate::resolve::{self, account_of};
use crate::YunxinState;
use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use switchboard_core::error::{Denied, Error};
use switchboard_core::ids::{ChatId, TenantId};
use switchboard_core::model::{Actor, Chat, ChatKind};
use switchboard_core::service::{Access, ChatPatch, CreateChat};
use switchboard_core::Core;

/// The member limit Switchboard enforces for every team.
const MEMBERS_LIMIT: i64 = 10_000;

pub(crate) fn kind_of_team_type(t: i64) -> Result<ChatKind, YunxinError> {
    match t {
        1 => Ok(ChatKind::Group),
        2 => Ok(ChatKind::SuperGroup),
        other => Err(YunxinError::param(format!(
            "team_type must be 1 (advanced team) or 2 (super team), not {other}"
        ))),
    }
}

fn team_type(kind: ChatKind) -> i64 {
    match kind {
        ChatKind::SuperGroup => 2,
        _ => 1,
    }
}

#[derive(Debug, Serialize)]
struct FailedAccount {
    account_id: String,
    error_code: i64,
    error_msg: String,
}

impl FailedAccount {
    fn new(account: &str, e: YunxinError) -> Self {
        FailedAccount {
            account_id: account.to_string(),
            error_code: e.code,
            error_msg: e.msg,
        }
    }
}

pub(crate) async fn team_info(core: &Core, c: &Chat) -> Result<Value, YunxinError> {
    let members = core.members(c.tenant, c.id).await?;
    Ok(json!({
        "team_id": c.id.get(),
        "team_type": team_type(c.kind),
        "owner_account_id": account_of(core, c.tenant, c.owner).await?,
        "member_count": members.len(),
        "name": c.name,
        "intro": c.description,
        "members_limit": MEMBERS_LIMIT,
        "create_time": c.created_at,
        "update_time": c.dissolved_at.unwrap_or(c.created_at),
    }))
}

/// A live team of the tenant; `team_type`, when given, must match it (805). `id` is `None`
/// for a team id (a Long) that names no possible team: that team does not exist (108404).
pub(crate) async fn team(
    core: &Core,
    tenant: TenantId,
    id: Option<ChatId>,
    team_type_param: Option<i64>,
) -> Result<Chat, YunxinError> {
    let Some(id) = id else {
        return Err(YunxinError::team_not_found());
    };
    let chat = match core.chat(tenant, id).await {
        Ok(c) if c.kind != ChatKind::P2p => c,
        Ok(_) | Err(Error::NotFound(_)) => return Err(YunxinError::team_not_found()),
        Err(e) => return Err(YunxinError::from(e)),
    };
    if chat.dissolved_at.is_some() {
        return Err(YunxinError::new(
            code::TEAM_NOT_FOUND,
            "team not exist: it has been dissolved",
        ));
    }
    if let Some(t) = team_type_param {
        if kind_of_team_type(t)? != chat.kind {
            return Err(YunxinError::new(
                code::TEAM_TYPE_MISMATCH,
                format!(
                    "team_type {t} does not match team {id}, whose team_type is {}",
                    team_type(chat.kind)
                ),
            ));
        }
    }
    Ok(chat)
}

/// Checks the operator first, as Yunxin does (the rule is the domain's,
/// [`Core::check_manager`]), naming it in the answer: 804 when not a member, 802 unless
/// owner or manager.
async fn require_manager(
    core: &Core,
    chat: &Chat,
    operator: Actor,
    account: &str,
) -> Result<(), YunxinError> {
    match core.check_manager(chat, operator).await {
        Ok(_) => Ok(()),
        Err(Error::Forbidden(Denied::NotMember | Denied::NotInP2p)) => Err(YunxinError::new(
            code::NOT_IN_TEAM,
            format!("operator {account:?} is not a member of team {}", chat.id),
        )),
        Err(Error::Forbidden(Denied::NotChatAdmin)) => Err(YunxinError::new(
            code::TEAM_NO_PERMISSION,
            format!(
                "operator {account:?} is neither the owner nor a manager of team {}",
                chat.id
            ),
        )),
        Err(e) => Err(YunxinError::from(e)),
    }
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str, YunxinError> {
    v.as_deref()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| YunxinError::param(format!("{name} is required")))
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    owner_account_id: Option<String>,
    team_type: Option<Long>,
    name: Option<String>,
    invite_account_ids: Option<Vec<String>>,
}

/// Create a team: `POST /im/v2.1/teams`.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
///
/// Invitees that do not exist go to `failed_list` (404); the others join at once.
pub async fn create(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxJson(body): YxJson<CreateBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let owner_account = required(&body.owner_account_id, "owner_account_id")?;
    let kind = kind_of_team_type(
        body.team_type
            .ok_or_else(|| YunxinError::param("team_type is required: 1 (advanced) or 2 (super)"))?
            .0,
    )?;
    let name = required(&body.name, "name")?.to_string();
    let invites = body.invite_account_ids.unwrap_or_default();
    if invites.len() > 200 {
        return Err(YunxinError::param(
            "invite_account_ids holds more than 200 accounts",
        ));
    }
    let owner = resolve::actor(core, tenant, owner_account).await?;
    let mut members = Vec::new();
    let mut failed_list = Vec::new();
    for a in &invites {
        match resolve::actor(core, tenant, a).await {
            Ok(actor) if actor != owner && !members.contains(&actor) => members.push(actor),
            Ok(_) => {}
            Err(e) => failed_list.push(FailedAccount::new(a, e)),
        }
    }
    let chat = core
        .create_chat(
            tenant,
            CreateChat {
                kind,
                name: Some(name),
                owner,
                members,
            },
        )
        .await?;
    Ok(ok(
        json!({ "team_info": team_info(core, &chat).await?, "failed_list": failed_list }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct TeamParams {
    team_type: Option<String>,
    operator_id: Option<String>,
}

pub(crate) fn opt_long(v: &Option<String>, name: &str) -> Result<Option<i64>, YunxinError> {
    match v.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => parse_long(s)
            .map(|l| Some(l.0))
            .ok_or_else(|| YunxinError::param(format!("{name} {s:?} is not a number"))),
    }
}

/// A team id given as text: not a Long is 414; a Long naming no possible team is `None`.
pub(crate) fn path_team_id(seg: &str) -> Result<Option<ChatId>, YunxinError> {
    parse_team_id(seg).map_err(YunxinError::param)
}

/// Get a team: `GET /im/v2.1/teams/{team_id}?team_type=`.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn get(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(id): YxPath<String>,
    YxQuery(q): YxQuery<TeamParams>,
) -> Result<Response, YunxinError> {
    let id = path_team_id(&id)?;
    let chat = team(
        &yx.core,
        caller.tenant(),
        id,
        opt_long(&q.team_type, "team_type")?,
    )
    .await?;
    Ok(ok(
        json!({ "team_info": team_info(&yx.core, &chat).await? }),
    ))
}

/// Disband a team: `DELETE /im/v2.1/teams/{team_id}?team_type=&operator_id=`; only its owner
/// may. Its history stays readable through the query endpoint (see `check_team_valid`).
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn disband(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(id): YxPath<String>,
    YxQuery(q): YxQuery<TeamParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let id = path_team_id(&id)?;
    let operator_account = required(&q.operator_id, "operator_id")?;
    let chat = team(core, tenant, id, opt_long(&q.team_type, "team_type")?).await?;
    let operator = resolve::actor(core, tenant, operator_account).await?;
    if chat.owner != operator {
        return Err(YunxinError::new(
            code::TEAM_NO_PERMISSION,
            format!("only the owner may disband team {}", chat.id),
        ));
    }
    core.dissolve_chat(tenant, chat.id, Some(operator)).await?;
    Ok(ok_empty())
}

/// `PATCH /im/v2.1/teams/{team_id}`. `icon`, `announcement`, `members_limit`, the
/// extensions and `configuration` are accepted and not kept.
#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    operator_id: Option<String>,
    team_type: Option<Long>,
    name: Option<String>,
    intro: Option<String>,
}

/// Update a team: `PATCH /im/v2.1/teams/{team_id}` with `operator_id`, `team_type`, `name`,
/// `intro`; answers the team as it now is. The operator must be the owner or a manager
/// (804 / 802, checked first); `intro` is the team's description.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn update(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(id): YxPath<String>,
    YxJson(body): YxJson<UpdateBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let id = path_team_id(&id)?;
    let operator_account = required(&body.operator_id, "operator_id")?;
    let chat = team(core, tenant, id, body.team_type.map(|t| t.0)).await?;
    let operator = resolve::actor(core, tenant, operator_account).await?;
    require_manager(core, &chat, operator, operator_account).await?;
    let patch = ChatPatch {
        name: body.name,
        description: body.intro,
        owner: None,
    };
    let chat = core
        .update_chat(tenant, chat.id, Access::Member(operator), patch)
        .await?;
    Ok(ok(json!({ "team_info": team_info(core, &chat).await? })))
}

#[derive(Debug, Deserialize)]
pub struct TransferBody {
    team_type: Option<Long>,
    new_owner_account_id: Option<String>,
    leave: Option<Long>,
}

/// Transfer a team's ownership: `PATCH /im/v2/teams/{team_id}/actions/transfer_owner` with
/// `team_type`, `new_owner_account_id` (already a member, else 804) and `leave`: 1, the
/// old owner leaves the team; 2 (the default), it stays as a plain member. The request
/// names no operator: the AppKey acts for its tenant. Naming the current owner changes
/// nothing. <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn transfer_owner(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(id): YxPath<String>,
    YxJson(body): YxJson<TransferBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let id = path_team_id(&id)?;
    let new_account = required(&body.new_owner_account_id, "new_owner_account_id")?;
    let leave = match body.leave.map(|l| l.0) {
        None | Some(2) => false,
        Some(1) => true,
        Some(other) => {
            return Err(YunxinError::param(format!(
                "leave must be 1 (the old owner leaves) or 2 (it stays), not {other}"
            )))
        }
    };
    let chat = team(core, tenant, id, body.team_type.map(|t| t.0)).await?;
    let new_owner = resolve::actor(core, tenant, new_account).await?;
    if new_owner == chat.owner {
        return Ok(ok_empty());
    }
    let patch = ChatPatch {
        name: None,
        description: None,
        owner: Some(new_owner),
    };
    core.update_chat(tenant, chat.id, Access::Admin, patch)
        .await?;
    if leave {
        core.remove_members_by(tenant, chat.id, Access::Admin, vec![chat.owner])
            .await?;
    }
    Ok(ok_empty())
}

#[derive(Debug, Deserialize)]
pub struct InviteBody {
    operator_id: Option<String>,
    team_id: Option<Long>,
    team_type: Option<Long>,
    invite_account_ids: Option<Vec<String>>,
}

/// Invite members: `POST /im/v2/team_members`. Invitees join at once (no approval step);
/// the operator must be the team's owner or a manager.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn invite(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxJson(body): YxJson<InviteBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let operator_account = required(&body.operator_id, "operator_id")?;
    let team_id = body
        .team_id
        .ok_or_else(|| YunxinError::param("team_id is required"))?
        .0;
    let id = team_of_long(team_id);
    let invites = body.invite_account_ids.unwrap_or_default();
    if invites.is_empty() || invites.len() > 200 {
        return Err(YunxinError::param(
            "invite_account_ids must hold 1 to 200 accounts",
        ));
    }
    let chat = team(core, tenant, id, body.team_type.map(|t| t.0)).await?;
    let operator = resolve::actor(core, tenant, operator_account).await?;
    require_manager(core, &chat, operator, operator_account).await?;
    let mut add: Vec<(Actor, String)> = Vec::new();
    let mut failed_list = Vec::new();
    for a in &invites {
        match resolve::actor(core, tenant, a).await {
            Ok(actor) if add.iter().any(|(x, _)| *x == actor) => {}
            Ok(actor) => match core.is_member(chat.id, actor).await? {
                Some(_) => failed_list.push(FailedAccount::new(
                    a,
                    YunxinError::new(code::ALREADY_IN_TEAM, "already in the team"),
                )),
                None => add.push((actor, a.clone())),
            },
            Err(e) => failed_list.push(FailedAccount::new(a, e)),
        }
    }
    let mut success_list = Vec::new();
    if !add.is_empty() {
        let added = core
            .add_members_by(
                tenant,
                chat.id,
                Access::Member(operator),
                add.iter().map(|(x, _)| *x).collect(),
            )
            .await?;
        success_list = add
            .into_iter()
            .filter(|(x, _)| added.iter().any(|m| m.actor == *x))
            .map(|(_, a)| a)
            .collect();
    }
    Ok(ok(
        json!({ "success_list": success_list, "failed_list": failed_list }),
    ))
}

#[derive(Debug, Deserialize)]
pub struct KickParams {
    operator_id: Option<String>,
    team_id: Option<String>,
    team_type: Option<String>,
    kick_account_ids: Option<String>,
}

/// `kick_account_ids`: comma separated (the v2 SDKs) or a JSON array (the v1 style).
fn account_list(raw: &str) -> Result<Vec<String>, YunxinError> {
    let raw = raw.trim();
    let list: Vec<String> = if raw.starts_with('[') {
        serde_json::from_str(raw).map_err(|_| {
            YunxinError::param(
                "kick_account_ids must be a comma-separated list or a JSON array of strings",
            )
        })?
    } else {
        raw.split(',').map(|s| s.trim().to_string()).collect()
    };
    Ok(list.into_iter().filter(|s| !s.is_empty()).collect())
}

/// Kick members: `DELETE /im/v2/team_members/actions/kick_member?operator_id=&team_id=&team_type=&kick_account_ids=a,b`.
/// The operator must be the owner or a manager; the owner cannot be kicked.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn kick(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxQuery(q): YxQuery<KickParams>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let operator_account = required(&q.operator_id, "operator_id")?;
    let id = path_team_id(required(&q.team_id, "team_id")?)?;
    let kicks = account_list(required(&q.kick_account_ids, "kick_account_ids")?)?;
    if kicks.is_empty() || kicks.len() > 200 {
        return Err(YunxinError::param(
            "kick_account_ids must hold 1 to 200 accounts",
        ));
    }
    let chat = team(core, tenant, id, opt_long(&q.team_type, "team_type")?).await?;
    let operator = resolve::actor(core, tenant, operator_account).await?;
    require_manager(core, &chat, operator, operator_account).await?;
    let mut remove: Vec<(Actor, String)> = Vec::new();
    let mut failed_list = Vec::new();
    for a in &kicks {
        let actor = match resolve::actor(core, tenant, a).await {
            Ok(x) => x,
            Err(e) => {
                failed_list.push(FailedAccount::new(a, e));
                continue;
            }
        };
        if let Err(e) = Core::check_removable(&chat, actor) {
            failed_list.push(FailedAccount::new(a, YunxinError::from(e)));
        } else if core.is_member(chat.id, actor).await?.is_none() {
            failed_list.push(FailedAccount::new(
                a,
                YunxinError::new(code::NOT_IN_TEAM, "not a member of the team"),
            ));
        } else if !remove.iter().any(|(x, _)| *x == actor) {
            remove.push((actor, a.clone()));
        }
    }
    let mut success_list = Vec::new();
    if !remove.is_empty() {
        let removed = core
            .remove_members_by(
                tenant,
                chat.id,
                Access::Member(operator),
                remove.iter().map(|(x, _)| *x).collect(),
            )
            .await?;
        success_list = remove
            .into_iter()
            .filter(|(x, _)| removed.contains(x))
            .map(|(_, a)| a)
            .collect();
    }
    Ok(ok(
        json!({ "success_list": success_list, "failed_list": failed_list }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn team_types_and_lists() {
        assert_eq!(kind_of_team_type(1).unwrap(), ChatKind::Group);
        assert_eq!(kind_of_team_type(2).unwrap(), ChatKind::SuperGroup);
        assert_eq!(kind_of_team_type(3).unwrap_err().code, 414);
        assert_eq!(team_type(ChatKind::SuperGroup), 2);
        assert_eq!(account_list("a, b,,c").unwrap(), vec!["a", "b", "c"]);
        assert_eq!(account_list("[\"a\",\"b\"]").unwrap(), vec!["a", "b"]);
        assert!(account_list("[1,2]").is_err());
    }
}
