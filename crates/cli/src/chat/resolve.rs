//! Names to resources: tenants, chats, users and apps named the way people name them
//! (display names, user_id, app_id, canonical or dialect ids), and `@name` mentions.
//! The admin API has no search by name, so this lists and matches, caching per tenant.

use super::client::{enc, list_all, Admin};
use serde_json::{json, Value};
use std::collections::HashMap;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Chat {
    pub tenant: Tenant,
    pub id: i64,
    pub last_position: i64,
}

/// A user or an app of a tenant.
#[derive(Clone, Debug, PartialEq)]
pub struct Actor {
    /// `user` or `app`.
    pub kind: String,
    pub id: i64,
    pub name: String,
    /// Other names it answers to: user_id, account_id or app_id, and its canonical id.
    aliases: Vec<String>,
}

impl Actor {
    /// `{"type", "id"}`, as admin bodies take it.
    pub fn body(&self) -> Value {
        json!({ "type": self.kind, "id": self.id })
    }

    /// Whether a message's `sender` (or any `{"type","id"}`) is this actor.
    pub fn is(&self, v: &Value) -> bool {
        v["type"] == self.kind.as_str() && v["id"].as_i64() == Some(self.id)
    }
}

pub struct Directory<'a> {
    pub admin: &'a Admin,
    tenants: Option<Vec<Tenant>>,
    actors: HashMap<i64, Vec<Actor>>,
}

impl<'a> Directory<'a> {
    pub fn new(admin: &'a Admin) -> Directory<'a> {
        Directory {
            admin,
            tenants: None,
            actors: HashMap::new(),
        }
    }

    /// The tenants a name may be in: the one `--tenant` names, or every tenant.
    async fn candidates(&mut self, tenant: Option<&str>) -> anyhow::Result<Vec<Tenant>> {
        if self.tenants.is_none() {
            let all = list_all(self.admin, "/tenants").await?;
            self.tenants = Some(
                all.iter()
                    .map(|t| Tenant {
                        id: t["id"].as_i64().unwrap_or_default(),
                        name: t["name"].as_str().unwrap_or_default().to_string(),
                    })
                    .collect(),
            );
        }
        let all = self.tenants.clone().unwrap_or_default();
        let Some(want) = tenant else { return Ok(all) };
        // A canonical id or tenant_key first, then a name.
        if let Some(t) = self
            .admin
            .get_opt(&format!("/tenants/{}", enc(want)))
            .await?
        {
            let id = t["id"].as_i64().unwrap_or_default();
            return Ok(all.into_iter().filter(|x| x.id == id).collect());
        }
        let found = pick(&all, want, |t| vec![t.name.clone()], |t| t.name.clone());
        match found.len() {
            0 => anyhow::bail!("no tenant is named {want:?}"),
            1 => Ok(found),
            _ => anyhow::bail!(
                "{} tenants are named {want:?} ({}): pass --tenant with a canonical id",
                found.len(),
                ids(&found, |t| t.id)
            ),
        }
    }

    /// A chat by name or id, in the tenant given or in whichever tenant has it.
    pub async fn chat(&mut self, tenant: Option<&str>, want: &str) -> anyhow::Result<Chat> {
        let tenants = self.candidates(tenant).await?;
        let mut found = Vec::new();
        for t in &tenants {
            let chats = list_all(self.admin, &format!("/tenants/{}/chats", t.id)).await?;
            let keys = |c: &Value| {
                let mut k = vec![c["id"].to_string(), c["name"].as_str().unwrap_or("").into()];
                if let Some(d) = c["dialect_ids"].as_object() {
                    k.extend(d.values().filter_map(|v| v.as_str().map(str::to_string)));
                }
                k
            };
            let mut here = pick(&chats, want, keys, |c| {
                c["name"].as_str().unwrap_or("").to_string()
            });
            // Names the list does not show (a Yunxin conversation id): ask for it directly.
            if here.is_empty() && tenants.len() == 1 {
                let path = format!("/tenants/{}/chats/{}", t.id, enc(want));
                here.extend(self.admin.get_opt(&path).await?);
            }
            found.extend(here.into_iter().map(|c| Chat {
                tenant: t.clone(),
                id: c["id"].as_i64().unwrap_or_default(),
                last_position: c["last_position"].as_i64().unwrap_or_default(),
            }));
        }
        match found.len() {
            0 => anyhow::bail!(
                "no chat is named {want:?}{}",
                tenant
                    .map(|t| format!(" in tenant {t:?}"))
                    .unwrap_or_default()
            ),
            1 => Ok(found.remove(0)),
            _ => anyhow::bail!(
                "{} chats are named {want:?} ({}): pass --tenant, or the chat's canonical id",
                found.len(),
                found
                    .iter()
                    .map(|c| format!("id {} in tenant {} {:?}", c.id, c.tenant.id, c.tenant.name))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// Every user and app of a tenant.
    pub async fn actors(&mut self, tenant: i64) -> anyhow::Result<&[Actor]> {
        if !self.actors.contains_key(&tenant) {
            let mut all = Vec::new();
            for u in list_all(self.admin, &format!("/tenants/{tenant}/users")).await? {
                all.push(actor("user", &u, &["user_id", "account_id"]));
            }
            for a in list_all(self.admin, &format!("/tenants/{tenant}/apps")).await? {
                all.push(actor("app", &a, &["app_id"]));
            }
            self.actors.insert(tenant, all);
        }
        Ok(&self.actors[&tenant])
    }

    /// A user or app of the tenant: `alice`, `Alice`, `user:alice`, `app:cli_…`, or an id.
    pub async fn actor(&mut self, tenant: i64, want: &str) -> anyhow::Result<Actor> {
        let (kind, name) = match want.split_once(':') {
            Some((k @ ("user" | "app"), rest)) => (Some(k), rest),
            _ => (None, want),
        };
        let all: Vec<Actor> = self
            .actors(tenant)
            .await?
            .iter()
            .filter(|a| kind.is_none_or(|k| a.kind == k))
            .cloned()
            .collect();
        let found = pick(&all, name, |a| a.aliases.clone(), |a| a.name.clone());
        match found.len() {
            0 => anyhow::bail!("tenant {tenant} has no user or app named {want:?}"),
            1 => Ok(found.into_iter().next().unwrap_or_else(|| unreachable!())),
            _ => anyhow::bail!(
                "{want:?} names several in tenant {tenant} ({}): write user:NAME or app:NAME, or an id",
                found
                    .iter()
                    .map(|a| format!("{} {}", a.kind, a.id))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        }
    }

    /// An app by name in the tenant given, or in whichever tenant has one of that name.
    pub async fn app_anywhere(
        &mut self,
        tenant: Option<&str>,
        want: &str,
    ) -> anyhow::Result<(Tenant, Actor)> {
        let tenants = self.candidates(tenant).await?;
        let want = want.strip_prefix("app:").unwrap_or(want);
        let mut found = Vec::new();
        for t in tenants {
            if let Ok(a) = self.actor(t.id, &format!("app:{want}")).await {
                found.push((t, a));
            }
        }
        match found.len() {
            0 => anyhow::bail!("no app is named {want:?}"),
            1 => Ok(found.remove(0)),
            _ => anyhow::bail!(
                "apps named {want:?} exist in tenants {}: name the tenant",
                ids(&found, |(t, _)| t.id)
            ),
        }
    }

    /// The display name of a message's sender, or `type:id` when unknown.
    pub async fn sender_name(&mut self, tenant: i64, sender: &Value) -> String {
        if let Ok(all) = self.actors(tenant).await {
            if let Some(a) = all.iter().find(|a| a.is(sender)) {
                return a.name.clone();
            }
        }
        format!(
            "{}:{}",
            sender["type"].as_str().unwrap_or("?"),
            sender["id"]
        )
    }

    /// `hello @bot` as text with `<at id="1">bot</at>` and its mention list. An `@word`
    /// naming no user or app stays literal text (an address, `@here`); `@all` mentions all.
    pub async fn mentions(
        &mut self,
        tenant: i64,
        text: &str,
    ) -> anyhow::Result<(String, Vec<Value>)> {
        let re = regex::Regex::new(r"(^|\s)@([A-Za-z0-9_.@:-]*[A-Za-z0-9_])")?;
        let mut out = String::new();
        let mut mentions = Vec::new();
        let mut last = 0;
        for cap in re.captures_iter(text) {
            let (Some(lead), Some(word)) = (cap.get(1), cap.get(2)) else {
                continue;
            };
            let target = if word.as_str() == "all" {
                Some((json!({ "type": "all" }), "all".to_string()))
            } else {
                self.actor(tenant, word.as_str()).await.ok().map(|a| {
                    (
                        json!({ "type": a.kind, "id": a.id, "name": a.name }),
                        a.name,
                    )
                })
            };
            let Some((mut m, name)) = target else {
                continue;
            };
            let key = (mentions.len() + 1).to_string();
            m["key"] = json!(key);
            out.push_str(&text[last..lead.end()]);
            out.push_str(&format!("<at id=\"{key}\">{name}</at>"));
            last = word.end();
            mentions.push(m);
        }
        out.push_str(&text[last..]);
        Ok((out, mentions))
    }
}

fn actor(kind: &str, v: &Value, alias_fields: &[&str]) -> Actor {
    let mut aliases = vec![v["id"].to_string()];
    aliases.extend(
        alias_fields
            .iter()
            .filter_map(|f| v[*f].as_str().map(str::to_string)),
    );
    Actor {
        kind: kind.to_string(),
        id: v["id"].as_i64().unwrap_or_default(),
        name: v["name"].as_str().unwrap_or_default().to_string(),
        aliases,
    }
}

/// The items a name picks: exact matches of an id or name first; failing those, names
/// equal ignoring case.
fn pick<T: Clone>(
    items: &[T],
    want: &str,
    keys: impl Fn(&T) -> Vec<String>,
    name: impl Fn(&T) -> String,
) -> Vec<T> {
    let exact: Vec<T> = items
        .iter()
        .filter(|i| name(i) == want || keys(i).iter().any(|k| k == want))
        .cloned()
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    items
        .iter()
        .filter(|i| name(i).eq_ignore_ascii_case(want))
        .cloned()
        .collect()
}

fn ids<T>(items: &[T], id: impl Fn(&T) -> i64) -> String {
    items
        .iter()
        .map(|i| id(i).to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
