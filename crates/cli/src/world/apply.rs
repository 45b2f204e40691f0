//! Applying a checked world to the store: first every read (what exists already, and
//! whether it conflicts with the file), then, only when nothing conflicts, the writes.

use super::parse::{PartyRef, Plan};
use super::{Problems, Where};
use anyhow::Context;
use switchboard_core::error::Error;
use switchboard_core::model::{Actor, App, Chat, ChatKind, User};
use switchboard_core::service::{CreateAppWith, CreateChat, CreateUser};
use switchboard_core::store::{AppPatch, Page, UserKey};
use switchboard_core::Core;

/// What the store holds already of one tenant of the file.
struct Found {
    tenant: Option<switchboard_core::ids::TenantId>,
    users: Vec<Option<User>>,
    apps: Vec<Option<App>>,
    chats: Vec<Option<Chat>>,
}

/// What applying changed, for the log.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    pub created: usize,
    pub updated: usize,
}

/// Finds what exists, refuses conflicts (naming the file's lines), then creates what is
/// missing and updates the names, scopes and bot flags that differ from the file.
pub async fn apply(core: &Core, plan: &Plan) -> anyhow::Result<Applied> {
    let mut p = Problems::new(plan.file.clone());
    let mut found = Vec::new();
    let tenants = all(|page| core.list_tenants(page), |t| t.id.0).await?;
    for t in &plan.tenants {
        let same: Vec<_> = tenants.iter().filter(|x| x.name == t.name).collect();
        if same.len() > 1 {
            p.add(
                t.at,
                format!(
                    "the database holds {} tenants named {:?}",
                    same.len(),
                    t.name
                ),
            );
        }
        let tenant = same.first().map(|x| x.id);
        let mut f = Found {
            tenant,
            users: Vec::new(),
            apps: Vec::new(),
            chats: Vec::new(),
        };
        for u in &t.users {
            let by_id = match tenant {
                Some(tid) => found_or_none(core.find_user(tid, UserKey::UserId(&u.user_id)).await)?,
                None => None,
            };
            let by_account = match tenant {
                Some(tid) => {
                    found_or_none(core.find_user(tid, UserKey::AccountId(&u.account_id)).await)?
                }
                None => None,
            };
            match (&by_id, &by_account) {
                (Some(a), _) if a.account_id != u.account_id => p.add(
                    u.at,
                    format!(
                        "user_id {:?} exists with account_id {:?}, not {:?}",
                        u.user_id, a.account_id, u.account_id
                    ),
                ),
                (None, Some(b)) => p.add(
                    u.at,
                    format!(
                        "account_id {:?} belongs to the user {:?} already",
                        u.account_id, b.user_id
                    ),
                ),
                _ => {}
            }
            f.users.push(by_id);
        }
        for a in &t.apps {
            let existing = found_or_none(core.app_by_public_id(&a.app_id).await)?;
            if let Some(e) = &existing {
                if Some(e.tenant) != tenant {
                    p.add(
                        a.id_at,
                        format!("app_id {:?} exists in another tenant", a.app_id),
                    );
                } else if e.app_secret.expose() != a.app_secret {
                    p.add(
                        a.secret_at,
                        format!("app_id {:?} exists with another secret", a.app_id),
                    );
                }
            }
            f.apps.push(existing);
        }
        let chats = match tenant {
            Some(tid) => all(|page| core.list_chats(tid, page), |c| c.id.0).await?,
            None => Vec::new(),
        };
        for c in &t.chats {
            let same: Vec<_> = chats
                .iter()
                .filter(|x| x.name == c.name && x.dissolved_at.is_none())
                .collect();
            if same.len() > 1 {
                p.add(
                    c.at,
                    format!("the database holds {} chats named {:?}", same.len(), c.name),
                );
            }
            f.chats.push(same.first().map(|x| (*x).clone()));
        }
        found.push(f);
    }
    p.finish()?;

    let mut done = Applied::default();
    for (t, f) in plan.tenants.iter().zip(found) {
        let tid = match f.tenant {
            Some(id) => id,
            None => {
                done.created += 1;
                core.create_tenant(&t.name)
                    .await
                    .map_err(at(&plan.file, t.at))?
                    .id
            }
        };
        let mut users = Vec::new();
        for (u, existing) in t.users.iter().zip(f.users) {
            let user = match existing {
                Some(e) if e.name == u.name => e,
                Some(e) => {
                    done.updated += 1;
                    core.rename_user(tid, e.id, &u.name)
                        .await
                        .map_err(at(&plan.file, u.at))?
                }
                None => {
                    done.created += 1;
                    let cmd = CreateUser {
                        name: u.name.clone(),
                        user_id: Some(u.user_id.clone()),
                        account_id: Some(u.account_id.clone()),
                    };
                    core.create_user(tid, cmd)
                        .await
                        .map_err(at(&plan.file, u.at))?
                }
            };
            users.push(user.id);
        }
        let mut apps = Vec::new();
        for (a, existing) in t.apps.iter().zip(f.apps) {
            let app = match existing {
                Some(e) => {
                    let mut have = e.scopes.clone();
                    have.sort();
                    let patch = AppPatch {
                        name: (e.name != a.name).then(|| a.name.clone()),
                        bot_enabled: (e.bot_enabled != a.bot).then_some(a.bot),
                        scopes: a.scopes.clone().filter(|s| *s != have),
                        ..AppPatch::default()
                    };
                    if patch.name.is_none() && patch.bot_enabled.is_none() && patch.scopes.is_none()
                    {
                        e
                    } else {
                        done.updated += 1;
                        core.update_app(tid, e.id, patch)
                            .await
                            .map_err(at(&plan.file, a.at))?
                    }
                }
                None => {
                    done.created += 1;
                    let cmd = CreateAppWith {
                        name: a.name.clone(),
                        app_id: a.app_id.clone(),
                        app_secret: a.app_secret.clone(),
                        scopes: a.scopes.clone(),
                        bot_enabled: a.bot,
                    };
                    core.create_app_with(tid, cmd)
                        .await
                        .map_err(at(&plan.file, a.at))?
                }
            };
            done.updated += super::events::apply(core, tid, app.id, &a.events, &plan.file).await?;
            apps.push(app.id);
        }
        let actor = |r: PartyRef| match r {
            PartyRef::User(i) => Actor::User(users[i]),
            PartyRef::App(i) => Actor::App(apps[i]),
        };
        for (c, existing) in t.chats.iter().zip(f.chats) {
            // A chat found by its name is left as it is: members added or removed since are
            // the tests' doing, not the file's.
            if existing.is_none() {
                done.created += 1;
                let cmd = CreateChat {
                    kind: ChatKind::Group,
                    name: Some(c.name.clone()),
                    owner: actor(c.owner),
                    members: c.members.iter().map(|m| actor(*m)).collect(),
                };
                core.create_chat(tid, cmd)
                    .await
                    .map_err(at(&plan.file, c.at))?;
            }
        }
    }
    Ok(done)
}

/// Names the file's line in an error the core raised while applying.
fn at(file: &str, w: Where) -> impl Fn(Error) -> anyhow::Error + '_ {
    move |e| anyhow::anyhow!("{file}:{}: {e}", w.0)
}

fn found_or_none<T>(r: Result<T, Error>) -> anyhow::Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e).context("reading the database"),
    }
}

/// Every page of a listing.
async fn all<T, F, Fut>(list: F, id: impl Fn(&T) -> i64) -> anyhow::Result<Vec<T>>
where
    F: Fn(Page) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<T>, Error>>,
{
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = list(Page { after, limit: 100 })
            .await
            .context("reading the database")?;
        match page.last() {
            Some(last) => after = id(last),
            None => return Ok(out),
        }
        out.extend(page);
    }
}
