//! Reading a world file: the TOML shape (every value kept with its place in the file) and
//! the checks that need nothing but the file, the environment and the server's rules.
//! The result, a [`Plan`], names every entity by its position so errors can name a line.

use super::{Problems, Where};
use serde::Deserialize;
use std::collections::HashMap;
use std::path::Path;
use switchboard_core::Core;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDecl {
    #[serde(default)]
    tenants: Vec<TenantDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantDecl {
    name: Spanned<String>,
    #[serde(default)]
    users: Vec<UserDecl>,
    #[serde(default)]
    apps: Vec<AppDecl>,
    #[serde(default)]
    chats: Vec<ChatDecl>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserDecl {
    name: Spanned<String>,
    user_id: Spanned<String>,
    account_id: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AppDecl {
    name: Spanned<String>,
    app_id: Spanned<String>,
    app_secret: Option<Spanned<String>>,
    app_secret_env: Option<Spanned<String>>,
    scopes: Option<Vec<Spanned<String>>>,
    bot: Option<bool>,
    events: Option<std::collections::BTreeMap<String, super::events::EventDecl>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChatDecl {
    name: Spanned<String>,
    owner: Spanned<String>,
    #[serde(default)]
    members: Vec<Spanned<String>>,
}

/// A world, checked against itself: what to find or create, in order.
#[derive(Debug, Clone)]
pub struct Plan {
    pub file: String,
    pub tenants: Vec<TenantPlan>,
}

#[derive(Debug, Clone)]
pub struct TenantPlan {
    pub name: String,
    pub at: Where,
    pub users: Vec<UserPlan>,
    pub apps: Vec<AppPlan>,
    pub chats: Vec<ChatPlan>,
}

#[derive(Debug, Clone)]
pub struct UserPlan {
    pub name: String,
    pub user_id: String,
    /// As the core derives it when the file gives none (the user id, lowercased).
    pub account_id: String,
    pub at: Where,
}

#[derive(Debug, Clone)]
pub struct AppPlan {
    pub name: String,
    pub app_id: String,
    pub app_secret: String,
    /// Sorted, without duplicates; `None`: the default scopes.
    pub scopes: Option<Vec<String>>,
    pub bot: bool,
    pub at: Where,
    /// The lines of `app_id` and of `app_secret` (or `app_secret_env`).
    pub id_at: Where,
    pub secret_at: Where,
    pub events: Vec<super::events::EventPlan>,
}

/// Who a chat names: the tenant's nth user or app in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartyRef {
    User(usize),
    App(usize),
}

#[derive(Debug, Clone)]
pub struct ChatPlan {
    pub name: String,
    pub owner: PartyRef,
    /// Without the owner and without repeats.
    pub members: Vec<PartyRef>,
    pub at: Where,
}

/// Reads and checks the file; `env` reads `app_secret_env` variables (the process's
/// environment, or a map in tests).
pub fn read(
    path: &Path,
    core: &Core,
    known_scopes: &[String],
    dialects: &[super::events::DialectInfo],
    env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<Plan> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read world file {file}: {e}"))?;
    let lines = LineIndex::new(&text);
    let decl: FileDecl = toml::from_str(&text).map_err(|e| {
        let line = e.span().map(|s| lines.line(s.start)).unwrap_or(0);
        anyhow::anyhow!("{file}:{line}: {}", e.message())
    })?;
    let mut p = Problems::new(file.clone());
    let plan = check(decl, core, known_scopes, dialects, env, &lines, &mut p);
    p.finish()?;
    Ok(Plan {
        file,
        tenants: plan,
    })
}

fn check(
    decl: FileDecl,
    core: &Core,
    known_scopes: &[String],
    dialects: &[super::events::DialectInfo],
    env: &dyn Fn(&str) -> Option<String>,
    lines: &LineIndex,
    p: &mut Problems,
) -> Vec<TenantPlan> {
    let at = |s: &std::ops::Range<usize>| Where(lines.line(s.start));
    let mut tenants = Vec::new();
    let mut tenant_names: HashMap<String, Where> = HashMap::new();
    let mut app_ids: HashMap<String, Where> = HashMap::new();
    for t in decl.tenants {
        let t_at = at(&t.name.span());
        let t_name = t.name.get_ref().trim().to_string();
        name_ok(p, t_at, "tenant name", &t_name);
        if let Some(first) = tenant_names.insert(t_name.clone(), t_at) {
            p.add(
                t_at,
                format!("duplicate tenant {t_name:?} (first at line {})", first.0),
            );
        }
        // Users and apps share one namespace: a chat names its members by it.
        let mut parties: HashMap<String, (PartyRef, Where)> = HashMap::new();
        let mut user_ids: HashMap<String, Where> = HashMap::new();
        let mut account_ids: HashMap<String, Where> = HashMap::new();
        let mut users = Vec::new();
        for (i, u) in t.users.into_iter().enumerate() {
            let u_at = at(&u.name.span());
            let name = u.name.get_ref().trim().to_string();
            name_ok(p, u_at, "user name", &name);
            claim(p, &mut parties, &name, (PartyRef::User(i), u_at));
            let uid_at = at(&u.user_id.span());
            let user_id = u.user_id.into_inner();
            ident_ok(p, uid_at, "user_id", &user_id, 64);
            if let Some(first) = user_ids.insert(user_id.clone(), uid_at) {
                p.add(
                    uid_at,
                    format!("duplicate user_id {user_id:?} (first at line {})", first.0),
                );
            }
            let (account_id, acc_at) = match u.account_id {
                Some(a) => {
                    let a_at = at(&a.span());
                    let a = a.into_inner();
                    ident_ok(p, a_at, "account_id", &a, 32);
                    (a, a_at)
                }
                None if user_id.len() > 32 => {
                    p.add(
                        uid_at,
                        "a user_id longer than 32 characters needs an account_id",
                    );
                    (String::new(), uid_at)
                }
                None => (user_id.to_ascii_lowercase(), uid_at),
            };
            if !account_id.is_empty() {
                if let Some(first) = account_ids.insert(account_id.clone(), acc_at) {
                    p.add(
                        acc_at,
                        format!(
                            "duplicate account_id {account_id:?} (first at line {})",
                            first.0
                        ),
                    );
                }
            }
            users.push(UserPlan {
                name,
                user_id,
                account_id,
                at: u_at,
            });
        }
        let mut apps = Vec::new();
        for (i, a) in t.apps.into_iter().enumerate() {
            let a_at = at(&a.name.span());
            let name = a.name.get_ref().trim().to_string();
            name_ok(p, a_at, "app name", &name);
            claim(p, &mut parties, &name, (PartyRef::App(i), a_at));
            let id_at = at(&a.app_id.span());
            let app_id = a.app_id.into_inner();
            if let Some(first) = app_ids.insert(app_id.clone(), id_at) {
                p.add(
                    id_at,
                    format!("duplicate app_id {app_id:?} (first at line {})", first.0),
                );
            }
            let secret = match (a.app_secret, a.app_secret_env) {
                (Some(s), None) => Some((s.get_ref().clone(), at(&s.span()))),
                (None, Some(v)) => {
                    let v_at = at(&v.span());
                    match env(v.get_ref()).filter(|s| !s.is_empty()) {
                        Some(s) => Some((s, v_at)),
                        None => {
                            p.add(
                                v_at,
                                format!(
                                    "environment variable {} (app_secret_env) is not set",
                                    v.get_ref()
                                ),
                            );
                            None
                        }
                    }
                }
                (Some(s), Some(_)) => {
                    p.add(at(&s.span()), "give app_secret or app_secret_env, not both");
                    None
                }
                (None, None) => {
                    p.add(a_at, "an app needs app_secret or app_secret_env");
                    None
                }
            };
            if let Err(e) = core.check_app_id(&app_id) {
                p.add(id_at, e.to_string());
            }
            let (app_secret, secret_at) = match secret {
                Some((s, s_at)) => {
                    if let Err(e) = Core::check_app_secret(&s) {
                        p.add(s_at, e.to_string());
                    }
                    (s, s_at)
                }
                None => (String::new(), a_at),
            };
            let scopes = a.scopes.map(|list| {
                let mut v = Vec::new();
                for s in list {
                    if !known_scopes.iter().any(|k| k == s.get_ref()) {
                        p.add(at(&s.span()), format!("unknown scope {:?}", s.get_ref()));
                    }
                    v.push(s.into_inner());
                }
                v.sort();
                v.dedup();
                v
            });
            apps.push(AppPlan {
                name,
                app_id,
                app_secret,
                scopes,
                bot: a.bot.unwrap_or(true),
                at: a_at,
                id_at,
                secret_at,
                events: a
                    .events
                    .map(|e| super::events::check(e, dialects, p, &at))
                    .unwrap_or_default(),
            });
        }
        let mut chats = Vec::new();
        let mut chat_names: HashMap<String, Where> = HashMap::new();
        for c in t.chats {
            let c_at = at(&c.name.span());
            let name = c.name.get_ref().trim().to_string();
            name_ok(p, c_at, "chat name", &name);
            if let Some(first) = chat_names.insert(name.clone(), c_at) {
                p.add(
                    c_at,
                    format!("duplicate chat {name:?} (first at line {})", first.0),
                );
            }
            let resolve = |p: &mut Problems, s: &Spanned<String>| {
                let r = parties.get(s.get_ref().trim()).map(|(r, _)| *r);
                if r.is_none() {
                    p.add(
                        at(&s.span()),
                        format!(
                            "no user or app named {:?} in tenant {t_name:?}",
                            s.get_ref()
                        ),
                    );
                }
                r
            };
            let owner = resolve(p, &c.owner);
            let mut members = Vec::new();
            for m in &c.members {
                if let Some(r) = resolve(p, m) {
                    if Some(r) != owner && !members.contains(&r) {
                        members.push(r);
                    }
                }
            }
            chats.push(ChatPlan {
                name,
                owner: owner.unwrap_or(PartyRef::User(0)),
                members,
                at: c_at,
            });
        }
        tenants.push(TenantPlan {
            name: t_name,
            at: t_at,
            users,
            apps,
            chats,
        });
    }
    tenants
}

fn claim(
    p: &mut Problems,
    parties: &mut HashMap<String, (PartyRef, Where)>,
    name: &str,
    entry: (PartyRef, Where),
) {
    if let Some((_, first)) = parties.get(name) {
        p.add(
            entry.1,
            format!(
                "duplicate name {name:?} (first at line {}; users and apps of a tenant share names)",
                first.0
            ),
        );
    } else {
        parties.insert(name.to_string(), entry);
    }
}

/// The core's rule for names (`valid_name`), checked here so it is refused before any write.
fn name_ok(p: &mut Problems, at: Where, what: &str, s: &str) {
    if s.is_empty() {
        p.add(at, format!("{what} must not be empty"));
    } else if s.chars().count() > 128 {
        p.add(at, format!("{what} must be at most 128 characters"));
    } else if s.chars().any(char::is_control) {
        p.add(at, format!("{what} must not contain control characters"));
    }
}

/// The core's rule for user and account ids (`valid_ident`).
fn ident_ok(p: &mut Problems, at: Where, what: &str, s: &str, max: usize) {
    let ok = !s.is_empty()
        && s.len() <= max
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
    if !ok {
        p.add(
            at,
            format!("{what} must be 1 to {max} letters, digits, '_', '.', '@' or '-'"),
        );
    }
}

/// Byte offsets to 1-based line numbers.
struct LineIndex(Vec<usize>);

impl LineIndex {
    fn new(text: &str) -> Self {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        LineIndex(starts)
    }

    fn line(&self, offset: usize) -> usize {
        match self.0.binary_search(&offset) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }
}
