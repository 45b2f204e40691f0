//! Authentication: the tenant token, the app behind it, its rate limit, its bot ability and
//! the operation's scope. [`Scoped`] is the only extractor that yields a [`Caller`], and a
//! handler names its scope in its signature, so none can forget it.

use crate::error::{self, LarkError, Op};
use crate::face::Ctx;
use crate::token;
use crate::LarkState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use switchboard_core::auth::TokenKind;
use switchboard_core::error::Error;
use switchboard_core::model::{Actor, App};
use switchboard_core::observe::CallerNote;
use switchboard_core::service::Access;

/// The calling app, authenticated by its tenant access token and within its rate limit.
pub struct Caller {
    pub app: App,
    pub ctx: Ctx,
}

/// What an operation needs of the app besides a valid token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Reading messages: `im:message` or `im:message:readonly`.
    Read,
    /// Sending, replying, editing, recalling, forwarding: `im:message` or `im:message:send_as_bot`.
    Write,
    /// Creating chats and adding members: `im:chat`.
    Chat,
    /// Reading chat membership: `im:chat` or `im:chat:readonly`.
    ChatRead,
    /// Reading a chat's history: `im:message`, `im:message:readonly` or
    /// `im:message.history:readonly`.
    History,
    /// Listing and reading chats: `im:chat`, `im:chat:readonly`, `im:chat:read` or
    /// `im:chat.group_info:readonly`.
    ChatInfo,
    /// Updating a chat: `im:chat` or `im:chat:update`.
    ChatUpdate,
    /// Dissolving a chat: `im:chat` or `im:chat:delete`.
    ChatDelete,
    /// Listing a chat's members: `im:chat`, `im:chat:readonly`,
    /// `im:chat.group_info:readonly` or `im:chat.members:read`.
    MembersRead,
    /// Removing members: `im:chat` or `im:chat.members:write_only`.
    MembersWrite,
    /// Adding and deleting reactions: `im:message` or `im:message.reactions:write_only`.
    Reactions,
    /// Listing reactions: `im:message`, `im:message:readonly` or `im:message.reactions:read`.
    ReactionsRead,
    /// Pinning: `im:message`, `im:message.pins:write_only` or `im:message:send_as_bot`.
    Pins,
    /// Listing pins: `im:message`, `im:message:readonly` or `im:message.pins:read`.
    PinsRead,
    /// A message's readers: `im:message`, `im:message:readonly` or `im:message:basic`.
    ReadUsers,
    /// Uploading images and files: `im:resource` or `im:resource:upload`.
    Resource,
    /// Only bot ability, no scope: downloading what the app itself uploaded.
    Bot,
}

/// The scopes a new app is granted for these APIs: reading and sending messages, chats,
/// uploading images and files.
/// Granted by hand, as Feishu grants them on request: the field scope for
/// `user_id_type=user_id`, and `im:message.group_msg` (hearing every group message, not
/// only those that mention the bot: `events::SCOPE_GROUP_MSG`).
pub const DEFAULT_SCOPES: &[&str] = &[
    "im:message",
    "im:message:readonly",
    "im:chat",
    "im:resource",
];

impl Need {
    pub fn scopes(self) -> &'static [&'static str] {
        match self {
            Need::Read => &["im:message", "im:message:readonly"],
            Need::Write => &["im:message", "im:message:send_as_bot"],
            Need::Chat => &["im:chat"],
            Need::ChatRead => &["im:chat", "im:chat:readonly"],
            Need::History => &[
                "im:message",
                "im:message:readonly",
                "im:message.history:readonly",
            ],
            Need::ChatInfo => &[
                "im:chat",
                "im:chat:readonly",
                "im:chat:read",
                "im:chat.group_info:readonly",
            ],
            Need::ChatUpdate => &["im:chat", "im:chat:update"],
            Need::ChatDelete => &["im:chat", "im:chat:delete"],
            Need::MembersRead => &[
                "im:chat",
                "im:chat:readonly",
                "im:chat.group_info:readonly",
                "im:chat.members:read",
            ],
            Need::MembersWrite => &["im:chat", "im:chat.members:write_only"],
            Need::Reactions => &["im:message", "im:message.reactions:write_only"],
            Need::ReactionsRead => &[
                "im:message",
                "im:message:readonly",
                "im:message.reactions:read",
            ],
            Need::Pins => &[
                "im:message",
                "im:message.pins:write_only",
                "im:message:send_as_bot",
            ],
            Need::PinsRead => &["im:message", "im:message:readonly", "im:message.pins:read"],
            Need::ReadUsers => &["im:message", "im:message:readonly", "im:message:basic"],
            Need::Resource => &["im:resource", "im:resource:upload"],
            Need::Bot => &[],
        }
    }
}

impl Caller {
    pub fn actor(&self) -> Actor {
        Actor::App(self.app.id)
    }

    pub fn access(&self) -> Access {
        Access::Member(self.actor())
    }

    /// Bot ability first (230006), then any one of the operation's scopes (99991672).
    /// Scopes are read from the app on every request, so a grant takes effect at once.
    fn require(&self, need: Need) -> Result<(), LarkError> {
        if !self.app.bot_enabled {
            return Err(LarkError::code(
                &self.ctx,
                error::BOT_DISABLED,
                "Bot ability is not activated.",
            ));
        }
        let scopes = need.scopes();
        if !scopes.is_empty() && !scopes.iter().any(|s| self.app.has_scope(s)) {
            let mut e = LarkError::new(
                &self.ctx,
                StatusCode::FORBIDDEN,
                error::SCOPE_MISSING,
                format!(
                    "Access denied. One of the following scopes is required: [{}].",
                    scopes.join(", ")
                ),
            );
            e.missing_scopes = scopes.iter().map(|s| s.to_string()).collect();
            return Err(e);
        }
        Ok(())
    }
}

fn unauthorized(ctx: &Ctx, code: i64, msg: &str) -> LarkError {
    LarkError::new(ctx, StatusCode::UNAUTHORIZED, code, msg)
}

/// An operation's scope requirement, named by a type so that a handler declares it in its
/// signature (`bot: Scoped<WriteMessages>`).
pub trait Scope {
    const NEED: Need;
}

/// Reading messages.
pub struct ReadMessages;
/// Sending, replying, editing, recalling, forwarding.
pub struct WriteMessages;
/// Creating chats and adding members.
pub struct ManageChats;
/// Reading chat membership.
pub struct ReadChats;

impl Scope for ReadMessages {
    const NEED: Need = Need::Read;
}
impl Scope for WriteMessages {
    const NEED: Need = Need::Write;
}
impl Scope for ManageChats {
    const NEED: Need = Need::Chat;
}
impl Scope for ReadChats {
    const NEED: Need = Need::ChatRead;
}

/// Reading a chat's history.
pub struct ReadHistory;
/// Listing and reading chats.
pub struct ReadChatInfo;
/// Updating a chat.
pub struct UpdateChats;
/// Dissolving a chat.
pub struct DeleteChats;
/// Listing a chat's members.
pub struct ReadMembers;
/// Removing a chat's members.
pub struct WriteMembers;

impl Scope for ReadHistory {
    const NEED: Need = Need::History;
}
impl Scope for ReadChatInfo {
    const NEED: Need = Need::ChatInfo;
}
impl Scope for UpdateChats {
    const NEED: Need = Need::ChatUpdate;
}
impl Scope for DeleteChats {
    const NEED: Need = Need::ChatDelete;
}
impl Scope for ReadMembers {
    const NEED: Need = Need::MembersRead;
}
impl Scope for WriteMembers {
    const NEED: Need = Need::MembersWrite;
}

/// Uploading images and files.
pub struct UploadResources;
/// Bot ability only (downloading the app's own uploads).
pub struct BotOnly;

impl Scope for UploadResources {
    const NEED: Need = Need::Resource;
}
impl Scope for BotOnly {
    const NEED: Need = Need::Bot;
}

/// The [`Caller`], authenticated, within its rate limit, with bot ability and scope
/// `S` checked (in that order) before the handler runs.
pub struct Scoped<S>(Caller, std::marker::PhantomData<S>);

impl<S> std::ops::Deref for Scoped<S> {
    type Target = Caller;
    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<S: Scope> FromRequestParts<LarkState> for Scoped<S> {
    type Rejection = LarkError;

    async fn from_request_parts(parts: &mut Parts, s: &LarkState) -> Result<Self, Self::Rejection> {
        let bot = Caller::authenticate(parts, s).await?;
        bot.require(S::NEED)?;
        Ok(Scoped(bot, std::marker::PhantomData))
    }
}

impl Caller {
    /// The tenant token, the app behind it, and the app's rate limit. Only [`Scoped`] calls
    /// it: no handler gets a bot without its scope checked.
    async fn authenticate(parts: &mut Parts, s: &LarkState) -> Result<Caller, LarkError> {
        let ctx = Ctx::from_parts(parts);
        const MISSING: &str =
            "Missing access token for authorization. Please make a request with token attached.";
        let bearer = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(|| unauthorized(&ctx, error::TOKEN_MISSING, MISSING))?;
        let (kind, app_id, issued_at, body) = token::claims(bearer).ok_or_else(|| {
            unauthorized(&ctx, error::TOKEN_FORMAT, "Invalid access token format.")
        })?;
        let invalid = |kind: TokenKind| {
            match kind {
            crate::token::APP_TOKEN => unauthorized(&ctx, error::APP_TOKEN_INVALID, "Invalid app access token."),
            _ => unauthorized(&ctx, error::TENANT_TOKEN_INVALID, "Invalid access token for authorization. Please make a request with token attached."),
        }
        };
        let app = match s.core.app_by_id(app_id).await {
            Ok(a) => a,
            Err(Error::NotFound(_)) => return Err(invalid(kind)),
            Err(e) => return Err(LarkError::core(&ctx, Some(Op::Token), e)),
        };
        let now_ms = s.core.now_ms();
        if !token::valid(body, issued_at, &app, &s.config, now_ms.div_euclid(1000)) {
            return Err(invalid(kind));
        }
        if kind != crate::token::TENANT_TOKEN {
            // The IM APIs act as the app's bot in its tenant: they take tenant tokens only.
            return Err(unauthorized(
                &ctx,
                error::TENANT_TOKEN_INVALID,
                "This API needs a tenant_access_token.",
            ));
        }
        // For the server's access log.
        if let Some(n) = parts.extensions.get::<std::sync::Arc<CallerNote>>() {
            n.set(&app.app_id);
        }
        if let Err(over) = s.limiter.check(app.id, now_ms) {
            let mut e = LarkError::new(
                &ctx,
                StatusCode::TOO_MANY_REQUESTS,
                error::RATE_LIMITED,
                "request trigger frequency limit",
            );
            e.headers.push((
                HeaderName::from_static("x-ogw-ratelimit-limit"),
                HeaderValue::from(over.limit),
            ));
            e.headers.push((
                HeaderName::from_static("x-ogw-ratelimit-reset"),
                HeaderValue::from(over.retry_after_secs()),
            ));
            return Err(e);
        }
        Ok(Caller { app, ctx })
    }
}
