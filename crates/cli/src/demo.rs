//! `switchboard demo`: a seeded embedded store, served, with copy-paste commands.

use anyhow::Context;
use serde_json::{json, Value};
use std::net::SocketAddr;
use switchboard_core::content;
use switchboard_core::ids::{AppId, ChatId, MessageId, TenantId, UserId};
use switchboard_core::model::*;
use switchboard_core::service::{CreateChat, CreateUser, Edit, MergeForward, Recall, Send};
use switchboard_core::store::{AppPatch, Page};
use switchboard_core::Core;
use switchboard_server::config::Config;
use tokio::net::TcpListener;

/// What the demo seeded, kept in the data directory so later runs print the same commands.
struct DemoInfo {
    tenant: TenantId,
    app: AppId,
    alice: UserId,
    group: ChatId,
    message: MessageId,
}

const INFO_FILE: &str = "demo.json";

/// Seeds (or finds) the demo data, then serves it on `listener`, already bound.
pub async fn run(cfg: Config, listener: TcpListener) -> anyhow::Result<()> {
    let info = {
        let store = switchboard_server::open_store(&cfg).await?;
        let core = switchboard_server::core(store);
        let info = match load_info(&cfg)? {
            Some(i) if core.tenant(i.tenant).await.is_ok() => i,
            _ => {
                anyhow::ensure!(
                    core.list_tenants(Page { after: 0, limit: 1 })
                        .await?
                        .is_empty(),
                    "{} holds data that is not a demo; point --data-dir at an empty directory",
                    cfg.data_dir.display()
                );
                let i = seed(&core).await.context("seeding the demo")?;
                save_info(&cfg, &i)?;
                i
            }
        };
        // Resolve everything the banner prints while the store is open.
        let app = core.app(info.tenant, info.app).await?;
        let alice = core.user(info.tenant, info.alice).await?;
        let group = core.chat(info.tenant, info.group).await?;
        (info, app, alice, group)
    };
    let (info, app, alice, group) = info;
    // The commands name the binary by its full path: `switchboard` need not be on the PATH.
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(shell_quote))
        .unwrap_or_else(|| "switchboard".into());
    let data_dir = cfg.data_dir.clone();
    let console = cfg.console.enabled;
    let banner = move |addr: SocketAddr, admin_token: &str| {
        let b = Banner {
            addr,
            admin_token,
            exe: &exe,
            data_dir: &data_dir,
            console,
        };
        // A closed stdout (a pager quit early) must not take the server down with it.
        use std::io::Write;
        let _ = writeln!(
            std::io::stdout(),
            "{}",
            b.render(&info, &app, &alice, &group)
        );
    };
    crate::serve(cfg, listener, Some(Box::new(banner))).await
}

fn load_info(cfg: &Config) -> anyhow::Result<Option<DemoInfo>> {
    let path = cfg.data_dir.join(INFO_FILE);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return Ok(None);
    };
    let v: Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let n = |k: &str| {
        v[k].as_i64()
            .with_context(|| format!("{}: missing {k}", path.display()))
    };
    Ok(Some(DemoInfo {
        tenant: TenantId(n("tenant")?),
        app: AppId(n("app")?),
        alice: UserId(n("alice")?),
        group: ChatId(n("group")?),
        message: MessageId(n("message")?),
    }))
}

fn save_info(cfg: &Config, i: &DemoInfo) -> anyhow::Result<()> {
    let v = json!({ "tenant": i.tenant, "app": i.app, "alice": i.alice, "group": i.group, "message": i.message });
    std::fs::create_dir_all(&cfg.data_dir)?;
    std::fs::write(cfg.data_dir.join(INFO_FILE), serde_json::to_vec_pretty(&v)?)?;
    Ok(())
}

fn c(kind: MessageType, data: Value) -> anyhow::Result<Content> {
    content::canonical(kind, data).map_err(anyhow::Error::msg)
}

async fn seed(core: &Core) -> anyhow::Result<DemoInfo> {
    let t = core.create_tenant("Demo Co").await?.id;
    let user = |name: &str, id: &str| CreateUser {
        name: name.into(),
        user_id: Some(id.into()),
        account_id: None,
    };
    let alice = core.create_user(t, user("Alice", "alice")).await?;
    let bob = core.create_user(t, user("Bob", "bob")).await?;
    let carol = core.create_user(t, user("Carol", "carol")).await?;
    let bot = core.create_app(t, "Demo Bot").await?;
    // The demo bot gets every scope the dialects know, including the Feishu field scope
    // needed for user_id_type=user_id, which new apps do not get by default.
    let mut scopes = switchboard_server::core_config().default_scopes;
    scopes.push(switchboard_dialect_lark::Config::default().user_id_scope);
    let patch = AppPatch {
        scopes: Some(scopes),
        ..AppPatch::default()
    };
    let bot = core.update_app(t, bot.id, patch).await?;
    let (a, b, cu, botx) = (
        Actor::User(alice.id),
        Actor::User(bob.id),
        Actor::User(carol.id),
        Actor::App(bot.id),
    );
    let group = core
        .create_chat(
            t,
            CreateChat {
                kind: ChatKind::Group,
                name: Some("Demo group".into()),
                owner: a,
                members: vec![b, cu, botx],
            },
        )
        .await?;
    let all_hands = core
        .create_chat(
            t,
            CreateChat {
                kind: ChatKind::SuperGroup,
                name: Some("All hands".into()),
                owner: a,
                members: vec![b, botx],
            },
        )
        .await?;
    let p2p = core.ensure_p2p(t, botx, a).await?;

    let g = group.id;
    let send = |sender: Actor, chat: ChatId, kind: MessageType, content: Content| {
        Send::new(t, chat, sender, kind, content)
    };
    let welcome = core
        .send(send(
            a,
            g,
            MessageType::Text,
            c(
                MessageType::Text,
                json!({ "text": "Welcome to the demo group!" }),
            )?,
        ))
        .await?;
    let mut reply = send(
        b,
        g,
        MessageType::Text,
        c(
            MessageType::Text,
            json!({ "text": "Thanks, glad to be here." }),
        )?,
    );
    reply.reply_to = Some(welcome.message.id);
    core.send(reply).await?;
    let mut mention = send(
        a,
        g,
        MessageType::Text,
        c(
            MessageType::Text,
            json!({ "text": "<at id=\"1\">Bob</at> <at id=\"2\">everyone</at> stand-up in 5 minutes" }),
        )?,
    );
    mention.mentions = vec![
        Mention {
            key: "1".into(),
            target: MentionTarget::User(bob.id),
            name: "Bob".into(),
        },
        Mention {
            key: "2".into(),
            target: MentionTarget::All,
            name: "everyone".into(),
        },
    ];
    core.send(mention).await?;
    core.send(send(
        b,
        g,
        MessageType::RichText,
        c(
            MessageType::RichText,
            json!({ "title": "Release notes", "paragraphs": [
                [{ "tag": "text", "text": "Shipped ", "style": ["bold"] }, { "tag": "a", "text": "v1.2", "href": "https://example.com/v1.2" }],
                [{ "tag": "text", "text": "Thanks to everyone involved." }]
            ] }),
        )?,
    ))
    .await?;
    let media = [
        (
            cu,
            MessageType::Image,
            json!({ "key": "img_demo_1", "name": "whiteboard.png", "format": "image/png", "size": 48213, "width": 1280, "height": 720 }),
        ),
        (
            cu,
            MessageType::File,
            json!({ "key": "file_demo_1", "name": "plan.pdf", "size": 120455 }),
        ),
        (
            b,
            MessageType::Audio,
            json!({ "key": "audio_demo_1", "duration_ms": 4200, "format": "amr", "size": 6800 }),
        ),
        (
            a,
            MessageType::Video,
            json!({ "key": "video_demo_1", "duration_ms": 15000, "width": 640, "height": 360, "format": "mp4", "size": 905000 }),
        ),
        (
            a,
            MessageType::Location,
            json!({ "title": "Office", "address": "1 Example Road", "latitude": 39.9042, "longitude": 116.4074 }),
        ),
    ];
    for (sender, kind, data) in media {
        core.send(send(sender, g, kind, c(kind, data)?)).await?;
    }
    let card = core
        .send(send(
            botx,
            g,
            MessageType::Card,
            c(MessageType::Card, json!({ "card": { "header": { "title": "Build #42" }, "elements": [{ "tag": "div", "text": "All checks passed" }] } }))?,
        ))
        .await?;
    let status = core
        .send(send(
            botx,
            g,
            MessageType::Text,
            c(
                MessageType::Text,
                json!({ "text": "Deploy finished in 3m12s" }),
            )?,
        ))
        .await?;
    let typo = core
        .send(send(
            a,
            g,
            MessageType::Text,
            c(MessageType::Text, json!({ "text": "Lunch at 12:03" }))?,
        ))
        .await?;
    core.edit(Edit {
        tenant: t,
        actor: a,
        id: typo.message.id,
        kind: MessageType::Text,
        content: c(MessageType::Text, json!({ "text": "Lunch at 12:30" }))?,
        mentions: vec![],
        editable: &[],
        sender_only: true,
        max_edits: None,
        window_ms: None,
        min_interval_ms: None,
        extra: None,
    })
    .await?;
    let oops = core
        .send(send(
            b,
            g,
            MessageType::Text,
            c(MessageType::Text, json!({ "text": "wrong chat, sorry" }))?,
        ))
        .await?;
    core.recall(Recall {
        tenant: t,
        actor: b,
        id: oops.message.id,
        kind: RemovalKind::Recalled,
        window_ms: None,
        admin_window_ms: None,
    })
    .await?;
    let mut custom = send(
        b,
        g,
        MessageType::Custom,
        c(
            MessageType::Custom,
            json!({ "json": { "kind": "poll", "question": "Pizza or sushi?" } }),
        )?,
    );
    custom.extra.sub_type = Some(7);
    core.send(custom).await?;
    core.send(send(
        botx,
        g,
        MessageType::Tip,
        c(
            MessageType::Tip,
            json!({ "text": "Carol joined the group" }),
        )?,
    ))
    .await?;
    core.send(send(
        a,
        all_hands.id,
        MessageType::Text,
        c(
            MessageType::Text,
            json!({ "text": "Quarterly all-hands on Friday" }),
        )?,
    ))
    .await?;
    core.send(send(
        botx,
        p2p.id,
        MessageType::Text,
        c(
            MessageType::Text,
            json!({ "text": "Hello Alice, I am the demo bot." }),
        )?,
    ))
    .await?;
    core.send(send(
        a,
        p2p.id,
        MessageType::Text,
        c(MessageType::Text, json!({ "text": "Hi bot!" }))?,
    ))
    .await?;
    core.merge_forward(MergeForward {
        tenant: t,
        actor: botx,
        target: p2p.id,
        ids: vec![welcome.message.id, card.message.id],
        title: Some("Demo group highlights".into()),
        client_msg_id: None,
    })
    .await?;
    Ok(DemoInfo {
        tenant: t,
        app: bot.id,
        alice: alice.id,
        group: g,
        message: status.message.id,
    })
}

/// A word for a POSIX shell: as is when it is safe, else single-quoted.
fn shell_quote(s: &str) -> String {
    let safe = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,@%=".contains(&b));
    if safe {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What the banner needs besides the seeded data.
struct Banner<'a> {
    addr: SocketAddr,
    admin_token: &'a str,
    /// The running binary, shell-quoted.
    exe: &'a str,
    data_dir: &'a std::path::Path,
    /// The web console is served (`[console] enabled`).
    console: bool,
}

impl Banner<'_> {
    /// The credentials, then commands that each work when pasted as printed, in order, into
    /// bash or zsh: every URL quoted, every curl followed by a newline.
    fn render(&self, info: &DemoInfo, app: &App, alice: &User, group: &Chat) -> String {
        let base = format!("http://{}", self.addr);
        let (t, exe) = (info.tenant, self.exe);
        let chat = group.id;
        let mut out = String::new();
        let console = if self.console {
            format!("Console     : {base}/console (sign in with the admin token)\n")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\nSwitchboard demo is running on {base}\n\n\
             {console}\
             Admin token : {}\n\
             Tenant      : {t}\n\
             Bot app     : app_id={} app_secret={}\n\
             Group chat  : {chat} (\"{}\")\n\
             A message   : {}\n\
             Data        : {} (kept for the next run; Ctrl-C stops the server)\n\n\
             Commands to paste into bash or zsh in another terminal, as printed; the first\n\
             line lets an interactive zsh read the comments as comments:\n\n",
            self.admin_token,
            app.app_id,
            app.app_secret.expose(),
            group.name,
            info.message,
            self.data_dir.display(),
        ));
        out.push_str("[ -z \"${ZSH_VERSION-}\" ] || setopt interactive_comments\n");
        out.push_str("# Admin API\n");
        out.push_str(&format!(
            "export SWITCHBOARD_URL={} SWITCHBOARD_ADMIN_TOKEN={}\n",
            shell_quote_always(&base),
            shell_quote_always(self.admin_token)
        ));
        let auth = "-H \"Authorization: Bearer $SWITCHBOARD_ADMIN_TOKEN\"";
        let messages = format!("\"$SWITCHBOARD_URL/admin/v1/tenants/{t}/chats/{chat}/messages");
        out.push_str(&format!("curl -s {auth} {messages}?limit=5\"; echo\n"));
        out.push_str(&format!(
            "curl -s {auth} {messages}/{}\"; echo\n",
            info.message
        ));
        out.push_str(&format!(
            "curl -s {auth} -H 'Content-Type: application/json' \\\n  \
             -d '{{\"sender\":{{\"type\":\"user\",\"id\":\"alice\"}},\"type\":\"text\",\"content\":{{\"text\":\"hello from curl\"}}}}' \\\n  \
             {messages}\"; echo\n"
        ));
        out.push_str(&format!("{exe} admin message list {t} {chat} --limit 3\n"));

        let message = MessageId(info.message.0);
        // WPS: its block defines BASE, APP_ID, APP_SECRET and TOKEN (a WPS token), used
        // again by the `sign wps` command right after it.
        out.push_str(&switchboard_dialect_wps::demo_commands(
            &base, app, group, message, alice,
        ));
        let wps_uri = format!(
            "/v7/chats/{}/messages/{}",
            switchboard_dialect_wps::ids::chat_id(group.id),
            switchboard_dialect_wps::ids::message_id(message)
        );
        out.push_str(&format!(
            "# the same get, its KSO-1 headers computed by switchboard sign wps\n\
             eval curl -s $({exe} sign wps --uri '{wps_uri}' --app-id \"$APP_ID\" --app-secret \"$APP_SECRET\") \\\n  \
             -H \"'Authorization: Bearer $TOKEN'\" \"'$BASE{wps_uri}'\"; echo\n\n"
        ));
        out.push_str(&switchboard_dialect_lark::demo_commands(
            &base, app, group, message, alice,
        ));
        out.push_str(&switchboard_dialect_yunxin::demo_commands(
            &base, app, group, message, alice,
        ));
        let conversation = format!(
            "{}%7C{}%7C{}",
            alice.account_id,
            switchboard_dialect_yunxin::ids::conversation_type(group.kind),
            switchboard_dialect_yunxin::ids::team_id(group.id)
        );
        out.push_str(&format!(
            "eval curl -sS $({exe} sign yunxin --app-key \"$YX_APPKEY\" --app-secret \"$YX_SECRET\") \\\n  \
             \"'$YX_BASE/im/v2/conversations/{conversation}/messages/{}'\"; echo\n",
            switchboard_dialect_yunxin::ids::message_server_id(message)
        ));
        out
    }
}

/// A word for a POSIX shell, always single-quoted (values the reader copies as a whole).
fn shell_quote_always(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_quoted_only_when_the_shell_needs_it() {
        assert_eq!(
            shell_quote("/home/a/target/release/switchboard"),
            "/home/a/target/release/switchboard"
        );
        assert_eq!(
            shell_quote("/My Files/switchboard"),
            "'/My Files/switchboard'"
        );
        assert_eq!(shell_quote("/it's/switchboard"), r"'/it'\''s/switchboard'");
    }
}
