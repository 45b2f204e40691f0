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
    /// Admin token (printed by the server at its first start, stored in DATA_DIR/admin-token).
    #[arg(long, env = "SWITCHBOARD_ADMIN_TOKEN", hide_env_values = true)]
    token: String,
    /// Print only this field of the answer (e.g. id, app_id, dialect_ids.wps), for scripts.
    ///
    /// A key, or a dotted path into objects and arrays (items.0.id); a string prints without
    /// its quotes. Repeat for several, printed on one line separated by tabs:
    /// read -r APP_ID APP_SECRET <<<"$(switchboard admin app create 1 --name Bot --field app_id --field app_secret)"
    #[arg(long, global = true, value_name = "FIELD")]
    field: Vec<String>,
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
    /// Event subscriptions, the delivery log and redelivery (docs/events.md).
    Events {
        #[command(subcommand)]
        cmd: crate::admin_events::EventsCmd,
    },
    /// Any admin API call: `request POST /tenants --body '{"name":"x"}'`.
    Request {
        /// HTTP method: GET, POST, PUT, PATCH or DELETE.
        method: String,
        /// Path below /admin/v1, with its query: /tenants/1/chats?limit=10.
        path: String,
        /// JSON request body.
        #[arg(long)]
        body: Option<String>,
    },
}

#[derive(Subcommand)]
enum TenantCmd {
    /// Create a tenant; prints it with its canonical id.
    Create {
        /// Display name.
        name: String,
    },
    /// List tenants.
    List,
    /// Show one tenant.
    Get {
        /// Canonical id, or the Hi/Feishu tenant_key.
        tenant: String,
    },
}

/// Help of a `tenant` argument.
pub(crate) const TENANT: &str = "Tenant: canonical id, or the Hi/Feishu tenant_key";
/// Help of a `chat` argument.
const CHAT: &str = "Chat: canonical id, Hi/Feishu oc_…, or a Yunxin conversation id";
/// Help of a `message` argument.
const MESSAGE: &str = "Message: canonical id, Hi/Feishu om_…, or the WPS 16-character id";
/// Help of an `app` argument.
pub(crate) const APP: &str = "App: canonical id or app_id";

#[derive(Subcommand)]
enum UserCmd {
    /// Create a user.
    Create {
        #[arg(help = TENANT)]
        tenant: String,
        /// Display name.
        #[arg(long)]
        name: String,
        /// Tenant-wide user id (1–64 of A-Z a-z 0-9 _ . @ -); generated when absent.
        #[arg(long)]
        user_id: Option<String>,
        /// Yunxin account id (1–32 of the same); default: user_id lower-cased.
        #[arg(long)]
        account_id: Option<String>,
    },
    /// List the tenant's users.
    List {
        #[arg(help = TENANT)]
        tenant: String,
    },
    /// Show one user.
    Get {
        #[arg(help = TENANT)]
        tenant: String,
        /// User: canonical id, user_id, account_id, union_id (on_…), or open_id (ou_…) with --app.
        user: String,
        /// Resolve and show the per-app open_id for this app.
        #[arg(long)]
        app: Option<String>,
    },
    /// Issue a wps_sid with which a WPS client acts as this user (/v7/dev/agent/token).
    WpsSid(crate::admin_user::WpsSidArgs),
}

#[derive(Subcommand)]
enum AppCmd {
    /// Create an app (bot); prints its app_id and app_secret (the secret only here).
    Create {
        #[arg(help = TENANT)]
        tenant: String,
        /// Display name.
        #[arg(long)]
        name: String,
    },
    /// List the tenant's apps.
    List {
        #[arg(help = TENANT)]
        tenant: String,
    },
    /// Show one app (without its secret).
    Get {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
    },
    /// Change an app's name, bot ability, WPS signing or scopes; applies to its next request.
    Update {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Bot ability (checked by the Hi/Feishu dialect).
        #[arg(long)]
        bot_enabled: Option<bool>,
        /// Whether WPS requests must carry a KSO-1 signature.
        #[arg(long)]
        signing_required: Option<bool>,
        /// Comma-separated list that replaces the granted scopes.
        #[arg(long)]
        scopes: Option<String>,
    },
    /// Issue a new secret (revokes every token minted with the old one).
    RotateSecret {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = APP)]
        app: String,
    },
}

#[derive(Subcommand)]
enum ChatCmd {
    /// Create a chat.
    Create {
        #[arg(help = TENANT)]
        tenant: String,
        /// p2p, group or super_group.
        #[arg(long = "type")]
        kind: String,
        /// Display name (required for a group).
        #[arg(long)]
        name: Option<String>,
        /// user:ID or app:ID.
        #[arg(long)]
        owner: String,
        /// user:ID or app:ID; repeat for more.
        #[arg(long = "member")]
        members: Vec<String>,
    },
    /// List the tenant's chats.
    List {
        #[arg(help = TENANT)]
        tenant: String,
    },
    /// Show one chat with its members.
    Get {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
    },
    /// Dissolve a chat: no more sends; its history stays readable.
    Dissolve {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
    },
}

#[derive(Subcommand)]
enum MemberCmd {
    /// List a chat's members.
    List {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
    },
    /// Add members to a chat.
    Add {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        /// Members as user:ID or app:ID.
        members: Vec<String>,
    },
    /// Remove members from a chat.
    Remove {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        /// Members as user:ID or app:ID.
        members: Vec<String>,
    },
}

#[derive(Subcommand)]
enum MessageCmd {
    /// Send a message as any member, user or app.
    Send {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        /// user:ID or app:ID.
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
        /// The message this one replies to.
        #[arg(long)]
        reply_to: Option<String>,
        /// Idempotency key: the same one from the same sender within an hour returns the first message.
        #[arg(long)]
        client_msg_id: Option<String>,
    },
    /// Show one message.
    Get {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        #[arg(help = MESSAGE)]
        message: String,
    },
    /// List a chat's messages in position order.
    List {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        /// Start after this position (0: from the first message).
        #[arg(long)]
        after_position: Option<i64>,
        /// Messages per page, 1 to 1000 (default 50).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Replace a text message's text, as its sender.
    Edit {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        #[arg(help = MESSAGE)]
        message: String,
        /// The new text.
        #[arg(long)]
        text: String,
    },
    /// Recall or delete a message, as its sender.
    Recall {
        #[arg(help = TENANT)]
        tenant: String,
        #[arg(help = CHAT)]
        chat: String,
        #[arg(help = MESSAGE)]
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

pub(crate) fn enc(s: &str) -> String {
    // Path segments may be Yunxin conversation ids containing '|'.
    s.replace('%', "%25")
        .replace('|', "%7C")
        .replace('/', "%2F")
        .replace(' ', "%20")
}

/// `?a=1&b=2` of the parameters given, or nothing when there are none.
pub(crate) fn query_string(params: &[String]) -> String {
    if params.is_empty() {
        String::new()
    } else {
        format!("?{}", params.join("&"))
    }
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    let fields = args.field;
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
            UserCmd::WpsSid(a) => crate::admin_user::request(a),
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
                let q = query_string(&q);
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
        AdminCommand::Events { cmd } => crate::admin_events::request(cmd),
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
    let json = serde_json::from_str::<Value>(&text).ok();
    if !status.is_success() {
        // The answer names what is wrong; a failed write of it changes nothing to the outcome.
        let _ = crate::outln(match &json {
            Some(v) => serde_json::to_string_pretty(v)?,
            None => text,
        });
        anyhow::bail!("the server answered {status}");
    }
    let out = match (&json, fields.is_empty()) {
        (Some(v), true) => serde_json::to_string_pretty(v)?,
        (None, true) => text,
        (Some(v), false) => fields
            .iter()
            .map(|f| field(v, f))
            .collect::<anyhow::Result<Vec<_>>>()?
            .join("\t"),
        (None, false) => anyhow::bail!("the answer is not JSON: {text}"),
    };
    crate::outln(out)?;
    Ok(())
}

/// One field of an answer, by dotted path; a string without its quotes.
fn field(v: &Value, path: &str) -> anyhow::Result<String> {
    let mut at = v;
    for key in path.split('.') {
        at = match at {
            Value::Object(m) => m.get(key),
            Value::Array(a) => key.parse::<usize>().ok().and_then(|i| a.get(i)),
            _ => None,
        }
        .with_context(|| format!("the answer has no field {path:?}"))?;
    }
    Ok(match at {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    })
}
