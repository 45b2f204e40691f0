//! Checks shared by the commands, and the JSON size helpers behind the content limit.

use crate::error::{Conflict, Denied, Entity, Error, Result};
use crate::ids::TenantId;
use crate::input;
use crate::model::*;
use rand::Rng;

pub(super) fn valid_name(field: &'static str, s: &str, max: usize) -> Result<String> {
    let t = s.trim();
    if t.is_empty() {
        return Err(Error::invalid(field, "must not be empty"));
    }
    if t.chars().count() > max {
        return Err(Error::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if t.chars().any(char::is_control) {
        return Err(Error::invalid(field, "must not contain control characters"));
    }
    Ok(t.to_string())
}

/// External user and account ids: 1–64 (user) / 1–32 (account) of `A-Z a-z 0-9 _ . @ -`.
/// `|` is excluded so that an API may join ids with it into compound ids (a conversation
/// of two accounts).
pub(super) fn valid_ident(field: &'static str, s: &str, max: usize) -> Result<String> {
    if s.is_empty() || s.len() > max {
        return Err(Error::invalid(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b))
    {
        return Err(Error::invalid(
            field,
            "may contain only letters, digits, '_', '.', '@' and '-'",
        ));
    }
    Ok(s.to_string())
}

/// An idempotency key: 1 to 128 bytes, no NUL (the stores keep it in a text column).
pub(super) fn check_client_msg_id(c: Option<&str>) -> Result<()> {
    if let Some(c) = c {
        if c.is_empty() || c.len() > 128 {
            return Err(Error::invalid(
                "client_msg_id",
                "must be 1 to 128 characters",
            ));
        }
        input::check_text("client_msg_id", c)?;
    }
    Ok(())
}

pub(super) fn random_digits(n: usize) -> String {
    let mut rng = rand::thread_rng();
    let mut s = String::with_capacity(n);
    s.push(char::from(b'1' + rng.gen_range(0..9u8)));
    for _ in 1..n {
        s.push(char::from(b'0' + rng.gen_range(0..10u8)));
    }
    s
}

pub(super) fn random_token(alphabet: &[u8], n: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..n)
        .map(|_| alphabet[rng.gen_range(0..alphabet.len())] as char)
        .collect()
}

/// The chat a sender may post to, from the chat and the sender's membership read together;
/// refused in this order: unknown chat (or another tenant's), dissolved chat, not a member.
pub(super) fn open_to_sender<C: std::borrow::Borrow<Chat>, M>(
    tenant: TenantId,
    (chat, member): (Option<C>, Option<M>),
) -> Result<C> {
    let chat = match chat {
        Some(c) if c.borrow().tenant == tenant => c,
        _ => return Err(Error::NotFound(Entity::Chat)),
    };
    if chat.borrow().dissolved_at.is_some() {
        return Err(Error::Conflict(Conflict::ChatDissolved));
    }
    if member.is_none() {
        return Err(Error::Forbidden(Denied::not_member(chat.borrow().kind)));
    }
    Ok(chat)
}
