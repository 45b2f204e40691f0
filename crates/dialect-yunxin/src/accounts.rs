//! Accounts: a Yunxin account is a user of the AppKey's tenant, named by its `account_id`.
//!
//! Only the account id and `user_information.name` are stored. The IM login `token`,
//! `configuration` and the other profile fields are accepted and not kept: Switchboard has
//! no client login, and its accounts are always enabled.

use crate::auth::Caller;
use crate::error::{code, ok, YunxinError};
use crate::extract::{YxJson, YxPath};
use crate::YunxinState;
use axum::extract::State;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use switchboard_core::error::{Conflict, Error};
use switchboard_core::ids::TenantId;
use switchboard_core::model::User;
use switchboard_core::service::CreateUser;
use switchboard_core::store::UserKey;
use switchboard_core::Core;

#[derive(Debug, Default, Deserialize)]
pub struct UserInformation {
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct CreateBody {
    account_id: Option<String>,
    token: Option<String>,
    user_information: Option<UserInformation>,
}

#[derive(Debug, Deserialize)]
pub struct UpdateBody {
    user_information: Option<UserInformation>,
}

fn account_json(u: &User, token: Option<&str>) -> Value {
    let mut v = json!({
        "account_id": u.account_id,
        "configuration": {
            "enabled": true,
            "p2p_chat_banned": false,
            "team_chat_banned": false,
            "chatroom_chat_banned": false,
            "qchat_chat_banned": false,
            "push_enabled_when_desktop_online": false,
        },
        "user_information": { "name": u.name },
    });
    if let Some(t) = token {
        v["token"] = json!(t);
    }
    v
}

async fn find(core: &Core, tenant: TenantId, account: &str) -> Result<User, YunxinError> {
    match core.find_user(tenant, UserKey::AccountId(account)).await {
        Ok(u) => Ok(u),
        Err(Error::NotFound(_)) => Err(YunxinError::account_not_found(account)),
        Err(e) => Err(YunxinError::from(e)),
    }
}

/// Create an account: `POST /im/v2/accounts`.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
///
/// The user's `user_id` is the account id too, unless another user already holds that
/// `user_id`; the display name is `user_information.name`, else the account id.
pub async fn create(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxJson(body): YxJson<CreateBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let account = body
        .account_id
        .filter(|a| !a.is_empty())
        .ok_or_else(|| YunxinError::param("account_id is required"))?;
    if body.token.as_ref().is_some_and(|t| t.chars().count() > 128) {
        return Err(YunxinError::param("token is longer than 128 characters"));
    }
    let name = body
        .user_information
        .and_then(|i| i.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| account.clone());
    let cmd = |user_id: Option<String>| CreateUser {
        name: name.clone(),
        user_id,
        account_id: Some(account.clone()),
    };
    let user = match core.create_user(tenant, cmd(Some(account.clone()))).await {
        Err(Error::Conflict(Conflict::Duplicate("user_id"))) => {
            core.create_user(tenant, cmd(None)).await
        }
        other => other,
    };
    let user = match user {
        Ok(u) => u,
        Err(Error::Conflict(Conflict::Duplicate(_))) => {
            return Err(YunxinError::new(
                code::PARAM,
                format!("account {account:?} already exists"),
            ));
        }
        Err(e) => return Err(YunxinError::from(e)),
    };
    Ok(ok(account_json(&user, body.token.as_deref())))
}

/// Get an account: `GET /im/v2/accounts/{account_id}`.
/// <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn get(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(account): YxPath<String>,
) -> Result<Response, YunxinError> {
    let user = find(&yx.core, caller.tenant(), &account).await?;
    Ok(ok(account_json(&user, None)))
}

/// Update an account: `PATCH /im/v2/accounts/{account_id}`; `user_information.name` renames
/// the user. <https://doc.yunxin.163.com/messaging2/server-apis/zcwODA3MTU?platform=server2>
pub async fn update(
    State(yx): State<YunxinState>,
    caller: Caller,
    YxPath(account): YxPath<String>,
    YxJson(body): YxJson<UpdateBody>,
) -> Result<Response, YunxinError> {
    let (core, tenant) = (&yx.core, caller.tenant());
    let mut user = find(core, tenant, &account).await?;
    if let Some(name) = body.user_information.and_then(|i| i.name) {
        user = core.rename_user(tenant, user.id, &name).await?;
    }
    Ok(ok(account_json(&user, None)))
}
