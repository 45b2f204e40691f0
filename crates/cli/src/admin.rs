//! `switchboard admin …`: a thin client over the admin API. Prints the JSON answers.

use anyhow::Context;
use clap::{Args, Subcommand};
use reqwest::Method;
use serde_json::{json, Value};

#[derive(Args)]
pub struct AdminArgs {
    /// Base URL of the server.
    #[arg(long, env = "SWITCHBOARD_URL", default_value = "http://127.0.0.1:8080")]
    url: String,
    /// Admin token.
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Tenants.
    Tenant {
        #[command(subcommand)]
        cmd: TenantCmd,
    },
    /// Users of a tenant.
    User {
        #[command(subcommand)]
        cmd: UserCmd,
    },
    /// Apps (bots) of a tenant.
    App {
        #[command(subcommand)]
        cmd: AppCmd,
    },
    /// Chats of a tenant.
    Chat {
        #[command(subcommand)]
        cmd: ChatCmd,
    },
    /// Chat members.
    Member {
        #[command(subcommand)]
        cmd: MemberCmd,
    },
    /// Messages of a chat.
    Message {
        #[command(subcommand)]
        cmd: MessageCmd,
    },
    /// Any admin API call: `request POST /tenants --body '{"name":"x"}'`.
    Request {
        method: String,
        /// Path below /admin/v1.
        path: String,
        #[arg(long)]
        body: Option<String>,
    },
}

#[derive(Subcommand)]
enum TenantCmd {
    Create { name: String },
    List,
    Get { tenant: String },
}

#[derive(Subcommand)]
enum UserCmd {
    Create {
        tenant: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        user_id: Option<String>,
        #[arg(long)]
        account_id: Option<String>,
    },
    List {
        tenant: String,
    },
    Get {
        tenant: String,
        user: String,
        /// Resolve and show the per-app open_id for this app.
        #[arg(long)]
        app: Option<String>,
    },
}

#[derive(Subcommand)]
enum AppCmd {
    Create {
        tenant: String,
        #[arg(long)]
        name: String,
    },
    List {
        tenant: String,
    },
    Get {
        tenant: String,
        app: String,
    },
    Update {
        tenant: String,
        app: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        bot_enabled: Option<bool>,
        #[arg(long)]
        signing_required: Option<bool>,
        /// Comma-separated list that replaces the granted scopes.
        #[arg(long)]
        scopes: Option<String>,
    },
    /// Issue a new secret (revokes every token minted with the old one).
    RotateSecret {
        tenant: String,
        app: String,
    },
}

#[derive(Subcommand)]
enum ChatCmd {
    Create {
        tenant: String,
        /// p2p, group or super_group.
        #[arg(long = "type")]
        kind: String,
        #[arg(long)]
        name: Option<String>,
        /// user:<id> or app:<id>.
        #[arg(long)]
        owner: String,
        /// user:<id> or app:<id>; repeat for more.
        #[arg(long = "member")]
        members: Vec<String>,
    },
    List {
        tenant: String,
    },
    Get {
        tenant: String,
        chat: String,
    },
    Dissolve {
        tenant: String,
        chat: String,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    List {
        tenant: String,
        chat: String,
    },
    /// Members as user:<id> or app:<id>.
    Add {
        tenant: String,
        chat: String,
        members: Vec<String>,
    },
    Remove {
        tenant: String,
        chat: String,
        members: Vec<String>,
    },
}

#[derive(Subcommand)]
enum MessageCmd {
    Send {
        tenant: String,
        chat: String,
        /// user:<id> or app:<id>.
        #[arg(long)]
        sender: String,
        /// A text message.
        #[arg(long, conflicts_with_all = ["kind", "content"])]
        text: Option<String>,
        /// Message type with --content.
        #[arg(long = "type", requires = "content")]
        kind: Option<String>,
        /// Canonical content JSON (docs/content.md).
        #[arg(long)]
        content: Option<String>,
        #[arg(long)]
        reply_to: Option<String>,
        #[arg(long)]
        client_msg_id: Option<String>,
    },
    Get {
        tenant: String,
        chat: String,
        message: String,
    },
    List {
        tenant: String,
        chat: String,
        #[arg(long)]
        after_position: Option<i64>,
        #[arg(long)]
        limit: Option<u32>,
    },
    Edit {
        tenant: String,
        chat: String,
        message: String,
        #[arg(long)]
        text: String,
    },
    Recall {
        tenant: String,
        chat: String,
        message: String,
        /// recalled, recalled_one_way or deleted.
        #[arg(long)]
        kind: Option<String>,
    },
}

fn actor(s: &str) -> anyhow::Result<Value> {
    let (kind, id) = s
        .split_once(':')
        .with_context(|| format!("{s:?}: expected user:<id> or app:<id>"))?;
    anyhow::ensure!(
        kind == "user" || kind == "app",
        "{s:?}: expected user:<id> or app:<id>"
    );
    Ok(json!({ "type": kind, "id": id }))
}

fn actors(v: &[String]) -> anyhow::Result<Vec<Value>> {
    v.iter().map(|s| actor(s)).collect()
}

fn enc(s: &str) -> String {
    // Path segments may be Yunxin conversation ids containing '|'.
    s.replace('%', "%25")
        .replace('|', "%7C")
        .replace('/', "%2F")
        .replace(' ', "%20")
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let (method, path, body) = match args.command {
        AdminCommand::Tenant { cmd } => match cmd {
            TenantCmd::Create { name } => (
                Method::POST,
                "/tenants".to_string(),
                Some(json!({ "name": name })),
            ),
            TenantCmd::List => (Method::GET, "/tenants".into(), None),
            TenantCmd::Get { tenant } => (Method::GET, format!("/tenants/{}", enc(&tenant)), None),
        },
        AdminCommand::User { cmd } => match cmd {
            UserCmd::Create {
                tenant,
                name,
                user_id,
                account_id,
            } => (
                Method::POST,
                format!("/tenants/{}/users", enc(&tenant)),
                Some(json!({ "name": name, "user_id": user_id, "account_id": account_id })),
            ),
            UserCmd::List { tenant } => (
                Method::GET,
                format!("/tenants/{}/users", enc(&tenant)),
                None,
            ),
            UserCmd::Get { tenant, user, app } => {
                let q = app.map(|a| format!("?app={}", enc(&a))).unwrap_or_default();
                (
                    Method::GET,
                    format!("/tenants/{}/users/{}{q}", enc(&tenant), enc(&user)),
                    None,
                )
            }
        },
        AdminCommand::App { cmd } => match cmd {
            AppCmd::Create { tenant, name } => (
                Method::POST,
                format!("/tenants/{}/apps", enc(&tenant)),
                Some(json!({ "name": name })),
            ),
            AppCmd::List { tenant } => {
                (Method::GET, format!("/tenants/{}/apps", enc(&tenant)), None)
            }
            AppCmd::Get { tenant, app } => (
                Method::GET,
                format!("/tenants/{}/apps/{}", enc(&tenant), enc(&app)),
                None,
            ),
            AppCmd::Update {
                tenant,
                app,
                name,
                bot_enabled,
                signing_required,
                scopes,
            } => {
                let mut b = serde_json::Map::new();
                if let Some(v) = name {
                    b.insert("name".into(), json!(v));
                }
                if let Some(v) = bot_enabled {
                    b.insert("bot_enabled".into(), json!(v));
                }
                if let Some(v) = signing_required {
                    b.insert("signing_required".into(), json!(v));
                }
                if let Some(v) = scopes {
                    let list: Vec<&str> = v
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect();
                    b.insert("scopes".into(), json!(list));
                }
                (
                    Method::PATCH,
                    format!("/tenants/{}/apps/{}", enc(&tenant), enc(&app)),
                    Some(Value::Object(b)),
                )
            }
            AppCmd::RotateSecret { tenant, app } => (
                Method::POST,
                format!("/tenants/{}/apps/{}/rotate_secret", enc(&tenant), enc(&app)),
                None,
            ),
        },
        AdminCommand::Chat { cmd } => match cmd {
            ChatCmd::Create {
                tenant,
                kind,
                name,
                owner,
                members,
            } => (
                Method::POST,
                format!("/tenants/{}/chats", enc(&tenant)),
                Some(
                    json!({ "type": kind, "name": name, "owner": actor(&owner)?, "members": actors(&members)? }),
                ),
            ),
            ChatCmd::List { tenant } => (
                Method::GET,
                format!("/tenants/{}/chats", enc(&tenant)),
                None,
            ),
            ChatCmd::Get { tenant, chat } => (
                Method::GET,
                format!("/tenants/{}/chats/{}", enc(&tenant), enc(&chat)),
                None,
            ),
            ChatCmd::Dissolve { tenant, chat } => (
                Method::DELETE,
                format!("/tenants/{}/chats/{}", enc(&tenant), enc(&chat)),
                None,
            ),
        },
        AdminCommand::Member { cmd } => match cmd {
            MemberCmd::List { tenant, chat } => (
                Method::GET,
                format!("/tenants/{}/chats/{}/members", enc(&tenant), enc(&chat)),
                None,
            ),
            MemberCmd::Add {
                tenant,
                chat,
                members,
            } => (
                Method::POST,
                format!("/tenants/{}/chats/{}/members", enc(&tenant), enc(&chat)),
                Some(json!({ "members": actors(&members)? })),
            ),
            MemberCmd::Remove {
                tenant,
                chat,
                members,
            } => (
                Method::DELETE,
                format!("/tenants/{}/chats/{}/members", enc(&tenant), enc(&chat)),
                Some(json!({ "members": actors(&members)? })),
            ),
        },
        AdminCommand::Message { cmd } => match cmd {
            MessageCmd::Send {
                tenant,
                chat,
                sender,
                text,
                kind,
                content,
                reply_to,
                client_msg_id,
            } => {
                let (kind, content) = match (text, kind, content) {
                    (Some(t), _, _) => ("text".to_string(), json!({ "text": t })),
                    (None, Some(k), Some(c)) => (
                        k,
                        serde_json::from_str(&c).context("--content is not JSON")?,
                    ),
                    _ => anyhow::bail!("give --text, or --type with --content"),
                };
                let mut b = json!({ "sender": actor(&sender)?, "type": kind, "content": content });
                if let Some(r) = reply_to {
                    b["reply_to"] = json!(r);
                }
                if let Some(c) = client_msg_id {
                    b["client_msg_id"] = json!(c);
                }
                (
                    Method::POST,
                    format!("/tenants/{}/chats/{}/messages", enc(&tenant), enc(&chat)),
                    Some(b),
                )
            }
            MessageCmd::Get {
                tenant,
                chat,
                message,
            } => (
                Method::GET,
                format!(
                    "/tenants/{}/chats/{}/messages/{}",
                    enc(&tenant),
                    enc(&chat),
                    enc(&message)
                ),
                None,
            ),
            MessageCmd::List {
                tenant,
                chat,
                after_position,
                limit,
            } => {
                let mut q = Vec::new();
                if let Some(a) = after_position {
                    q.push(format!("after_position={a}"));
                }
                if let Some(l) = limit {
                    q.push(format!("limit={l}"));
                }
                let q = if q.is_empty() {
                    String::new()
                } else {
                    format!("?{}", q.join("&"))
                };
                (
                    Method::GET,
                    format!("/tenants/{}/chats/{}/messages{q}", enc(&tenant), enc(&chat)),
                    None,
                )
            }
            MessageCmd::Edit {
                tenant,
                chat,
                message,
                text,
            } => (
                Method::PUT,
                format!(
                    "/tenants/{}/chats/{}/messages/{}",
                    enc(&tenant),
                    enc(&chat),
                    enc(&message)
                ),
                Some(json!({ "content": { "text": text } })),
            ),
            MessageCmd::Recall {
                tenant,
                chat,
                message,
                kind,
            } => {
                let q = kind
                    .map(|k| format!("?kind={}", enc(&k)))
                    .unwrap_or_default();
                (
                    Method::DELETE,
                    format!(
                        "/tenants/{}/chats/{}/messages/{}{q}",
                        enc(&tenant),
                        enc(&chat),
                        enc(&message)
                    ),
                    None,
                )
            }
        },
        AdminCommand::Request { method, path, body } => {
            let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
                .context("invalid HTTP method")?;
            let b = body
                .map(|b| serde_json::from_str(&b))
                .transpose()
                .context("--body is not JSON")?;
            (m, path, b)
        }
    };
    let client = reqwest::Client::builder().no_proxy().build()?;
    let url = format!("{}/admin/v1{}", args.url.trim_end_matches('/'), path);
    let mut req = client.request(method, &url).bearer_auth(&args.token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.with_context(|| format!("calling {url}"))?;
    let status = resp.status();
    let text = resp.text().await?;
    match serde_json::from_str::<Value>(&text) {
        Ok(v) => println!("{}", serde_json::to_string_pretty(&v)?),
        Err(_) => println!("{text}"),
    }
    anyhow::ensure!(status.is_success(), "the server answered {status}");
    Ok(())
}
