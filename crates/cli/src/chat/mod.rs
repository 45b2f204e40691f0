//! `switchboard chat …`: talk to a running server as a user would, through its admin API
//! (docs/ci.md, "Talking to your bot from the command line").

pub mod client;
pub mod duration;
pub mod log;
pub mod resolve;
pub mod send;
pub mod state;
pub mod wait;

use clap::{Args, Subcommand};
use std::time::Duration;

#[derive(Args)]
pub struct ChatArgs {
    #[command(flatten)]
    conn: client::Conn,
    /// Tenant of the chat (name, canonical id or tenant_key), when its name is not unique.
    #[arg(long, global = true)]
    tenant: Option<String>,
    #[command(subcommand)]
    command: ChatCommand,
}

#[derive(Subcommand)]
enum ChatCommand {
    /// Send a text message as a user or app; `@name` mentions a user or app. Prints the message.
    Send {
        /// Sender: a user's name, user_id or account_id, an app's name or app_id (user:… or app:… when both exist).
        #[arg(long = "as")]
        sender: String,
        /// Chat: its name, canonical id or a dialect's id.
        #[arg(long)]
        chat: String,
        /// The text.
        text: String,
    },
    /// Wait for the next message from a sender and print it; exit 1 on time-out.
    Wait {
        /// Chat: its name, canonical id or a dialect's id.
        #[arg(long)]
        chat: String,
        /// Sender to wait for (user or app, named as for `send --as`).
        #[arg(long)]
        from: String,
        /// How long to wait: 500ms, 5s, 2m.
        #[arg(long, default_value = "5s", value_parser = duration::parse)]
        timeout: Duration,
        /// Only a message whose text matches this regular expression.
        #[arg(long = "match", value_name = "REGEX")]
        pattern: Option<String>,
        /// Only messages after this position (default: the last `chat send` from this machine, else now).
        #[arg(long)]
        after: Option<i64>,
    },
    /// Print a chat's last messages, oldest first.
    Log {
        /// Chat: its name, canonical id or a dialect's id.
        #[arg(long)]
        chat: String,
        /// How many messages.
        #[arg(long, default_value_t = 20)]
        last: u32,
        /// json: one object per line; text: `position  sender: text`.
        #[arg(long, value_enum, default_value = "json")]
        format: log::Format,
    },
}

pub async fn run(args: ChatArgs) -> anyhow::Result<()> {
    let admin = client::Admin::new(&args.conn)?;
    let tenant = args.tenant.as_deref();
    match args.command {
        ChatCommand::Send { sender, chat, text } => {
            send::run(&admin, tenant, &chat, &sender, &text).await
        }
        ChatCommand::Wait {
            chat,
            from,
            timeout,
            pattern,
            after,
        } => {
            wait::run(
                &admin,
                tenant,
                &chat,
                &from,
                pattern.as_deref(),
                after,
                timeout,
            )
            .await
        }
        ChatCommand::Log { chat, last, format } => {
            log::run(&admin, tenant, &chat, last, format).await
        }
    }
}
