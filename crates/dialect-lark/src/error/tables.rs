//! From a domain error to (HTTP status, vendor code, message), per endpoint family: the
//! group calls' 232xxx, the reactions' and pins' 231xxx, the files' 234xxx, and the one
//! table the rest share.

use super::*;
use axum::http::StatusCode;
use switchboard_core::error::{Conflict, Denied, Entity, Error, Window};
use switchboard_core::model::RemovalKind;

pub(super) fn invalid_msg(ext: impl std::fmt::Display) -> String {
    format!("Your request contains an invalid request parameter, ext={ext}.")
}

pub(super) const CHAT_ID_INVALID_MSG: &str = "Your request specifies a chat_id which is invalid.";

/// The group APIs' wording of a domain error (see [`Op::chat_family`]); `None` where they
/// answer as every other endpoint does (store failures, dissolved chats).
fn chat_table(op: Op, e: &Error) -> Option<(StatusCode, i64, String)> {
    let bad = StatusCode::BAD_REQUEST;
    let row = |code, msg: &str| Some((bad, code, msg.to_owned()));
    match e {
        Error::NotFound(Entity::Chat) => row(CHAT_ID_INVALID, CHAT_ID_INVALID_MSG),
        // Only an update names a member that must be there already: its new owner.
        Error::NotFound(Entity::Member) if op == Op::UpdateChat => row(
            CHAT_NEW_OWNER_OUTSIDE,
            "New chat owner can NOT be out of the chat.",
        ),
        Error::NotFound(Entity::User | Entity::App | Entity::Member) => row(
            CHAT_USER_ID_INVALID,
            "Your request specifies a user_id which is invalid.",
        ),
        Error::NotFound(_) => Some((bad, CHAT_INVALID_PARAM, invalid_msg("not found"))),
        // The domain refuses a p2p chat's name, owner or membership change on `chat`.
        Error::Invalid { field: "chat", .. } => row(
            CHAT_TYPE_UNSUPPORTED,
            "Your request specifies a chat whose type is NOT supported currently.",
        ),
        Error::Invalid { field, reason } => Some((
            bad,
            CHAT_INVALID_PARAM,
            invalid_msg(format!("{field}: {reason}")),
        )),
        Error::Forbidden(Denied::NotMember | Denied::NotInP2p) => {
            row(CHAT_OPERATOR_OUTSIDE, "Operator can NOT be out of the chat.")
        }
        Error::Forbidden(Denied::NotChatAdmin | Denied::NotSender) => match op {
            Op::UpdateChat => row(
                CHAT_NO_EDIT_PERMISSION,
                "No Permission: Only chat owner or admin can edit chat information in the current situation.",
            ),
            Op::DissolveChat => row(
                CHAT_NOT_OWNER,
                "No Permission: If the operator is NOT owner or creator with the scope, the operator can NOT complete the request.",
            ),
            _ => row(
                CHAT_NO_PERMISSION,
                "The token used in the request does NOT have the permissions necessary to complete the request.",
            ),
        },
        Error::Conflict(Conflict::OwnerStays) => row(CHAT_OWNER_KICKED, "Can't kick chat owner."),
        Error::Conflict(Conflict::Duplicate(what)) => Some((
            bad,
            CHAT_INVALID_PARAM,
            invalid_msg(format!("{what} already exists")),
        )),
        _ => None,
    }
}

/// The reaction, pin and read-receipt APIs' wording of a domain error; `None` where they
/// answer as every other endpoint does (a pin of a recalled message is 230011, a
/// non-member's pin 230002 …).
fn mark_table(op: Op, e: &Error) -> Option<(StatusCode, i64, String)> {
    let bad = StatusCode::BAD_REQUEST;
    let row = |code, msg: &str| Some((bad, code, msg.to_owned()));
    let outsider = matches!(e, Error::Forbidden(Denied::NotMember | Denied::NotInP2p));
    match op {
        Op::AddReaction | Op::ListReactions | Op::DeleteReaction => match e {
            // Feishu reads a recalled or deleted message as not found here.
            Error::NotFound(Entity::Chat | Entity::Message)
            | Error::Conflict(Conflict::MessageRemoved(_) | Conflict::AlreadyRemoved(_)) => row(
                REACTION_MESSAGE_NOT_FOUND,
                "The message is not found, maybe not exist or deleted.",
            ),
            Error::Conflict(Conflict::ChatDissolved) => row(
                REACTION_CHAT_NOT_FOUND,
                "The chat in which the message exists is not found, maybe not exist, deleted or archived.",
            ),
            _ if outsider && op == Op::ListReactions => row(
                REACTION_NO_ACCESS,
                "The operator has no access to the message.",
            ),
            Error::Conflict(Conflict::WrongMessageType) => row(
                REACTION_NO_PERMISSION,
                "The operator has no permission to react on the specific message.",
            ),
            _ if outsider => row(
                REACTION_NO_PERMISSION,
                "The operator has no permission to react on the specific message.",
            ),
            Error::Forbidden(Denied::NotSender) => row(
                REACTION_NOT_OPERATOR,
                "The operator has no permission to delete this reaction.",
            ),
            Error::Invalid {
                field: "reaction_type",
                ..
            } => row(REACTION_TYPE_INVALID, "reaction type is invalid."),
            Error::Invalid {
                field: "reaction_id",
                ..
            } => row(REACTION_ID_INVALID, "The request has an invalid reaction_id."),
            Error::Invalid {
                field: "message_id",
                ..
            } => row(
                REACTION_NOT_OF_MESSAGE,
                "The reaction does not belong to the message.",
            ),
            _ => None,
        },
        Op::Pin | Op::Unpin | Op::ListPins => match e {
            Error::Conflict(Conflict::ChatDissolved) => {
                row(PIN_CHAT_NOT_FOUND, "The chat not exist.")
            }
            Error::NotFound(Entity::Chat) if op == Op::ListPins => {
                row(PIN_CHAT_NOT_FOUND, "The chat not exist.")
            }
            _ => None,
        },
        Op::ReadUsers => match e {
            Error::Forbidden(Denied::NotSender) => row(
                NOT_MESSAGE_SENDER,
                "Bot is NOT the sender of the message.",
            ),
            _ => None,
        },
        _ => None,
    }
}

/// The one mapping from domain errors to (HTTP status, vendor code, vendor message).
///
/// `op` is the endpoint, where the wording depends on it; `None` (an answer made outside
/// any endpoint's handler) reads as the generic wording.
pub fn table(op: Option<Op>, e: &Error) -> (StatusCode, i64, String) {
    let bad = StatusCode::BAD_REQUEST;
    if let Some(row) = op
        .filter(|o| o.chat_family())
        .and_then(|o| chat_table(o, e))
    {
        return row;
    }
    if let Some(row) = op.and_then(|o| mark_table(o, e)) {
        return row;
    }
    match e {
        Error::NotFound(what) => {
            let ext = match (what, op) {
                (Entity::Chat | Entity::User, Some(Op::Send | Op::Forward | Op::MergeForward)) => {
                    "receive_id not found"
                }
                (Entity::Chat, Some(Op::CreateChat | Op::AddMembers | Op::IsInChat)) => {
                    "chat_id not found"
                }
                // A history's container is a chat, or a thread named after its root.
                (Entity::Chat | Entity::Message, Some(Op::ListMessages)) => {
                    "container_id not found"
                }
                (Entity::User | Entity::App, Some(Op::CreateChat | Op::AddMembers)) => {
                    "member id not found"
                }
                (Entity::Chat | Entity::Message, _) => "message_id not found",
                (Entity::User, _) => "user not found",
                (Entity::App, _) => "app not found",
                (Entity::Tenant, _) => "tenant not found",
                (Entity::Member, _) => "member not found",
                (Entity::Subscription, _) => "subscription not found",
                (Entity::Delivery, _) => "event not found",
            };
            (bad, INVALID_PARAM, invalid_msg(ext))
        }
        Error::Invalid { field, reason } => (
            bad,
            INVALID_PARAM,
            invalid_msg(format!("{field}: {reason}")),
        ),
        Error::Forbidden(Denied::NotMember | Denied::NotInP2p) => (
            bad,
            NOT_IN_CHAT,
            "Bot/User can NOT be out of the chat.".into(),
        ),
        Error::Forbidden(Denied::NotSender) => match op {
            Some(Op::Recall) => (
                bad,
                NO_RECALL_PERMISSION,
                "No permission to recall this message.".into(),
            ),
            Some(Op::Edit | Op::UpdateCard) => (
                bad,
                NOT_SENDER,
                "The operator is not the sender of the message.".into(),
            ),
            _ => (
                bad,
                LACKS_PERMISSION,
                "Lack of necessary permissions, ext=only the sender may do this.".into(),
            ),
        },
        Error::Forbidden(Denied::NotChatAdmin) => match op {
            Some(Op::Recall) => (
                bad,
                NO_RECALL_PERMISSION,
                "No permission to recall this message.".into(),
            ),
            _ => (
                bad,
                LACKS_PERMISSION,
                "Lack of necessary permissions, ext=only a chat owner or admin may do this.".into(),
            ),
        },
        Error::Conflict(Conflict::Duplicate(what)) => (
            bad,
            INVALID_PARAM,
            invalid_msg(format!("{what} already exists")),
        ),
        Error::Conflict(Conflict::ChatDissolved) => {
            (bad, CHAT_DISSOLVED, "The chat has been dissolved.".into())
        }
        Error::Conflict(
            Conflict::MessageRemoved(RemovalKind::Deleted)
            | Conflict::AlreadyRemoved(RemovalKind::Deleted),
        ) => (
            bad,
            MESSAGE_DELETED,
            "Action unavailable as the message has been deleted.".into(),
        ),
        Error::Conflict(Conflict::MessageRemoved(_) | Conflict::AlreadyRemoved(_)) => {
            (bad, MESSAGE_RECALLED, "The message is recalled.".into())
        }
        Error::Conflict(Conflict::EditLimit) => (
            bad,
            EDIT_LIMIT,
            "The message has reached the maximum number of edits.".into(),
        ),
        // Which window passed is the domain's to say; an edit window is a card's on the
        // card update endpoints.
        Error::Conflict(Conflict::WindowPassed(Window::Edit)) => match op {
            Some(Op::UpdateCard) => (
                bad,
                CARD_TOO_OLD,
                "The card was sent too long ago to be updated.".into(),
            ),
            _ => (
                bad,
                EDIT_TOO_OLD,
                "The message was sent too long ago to be edited.".into(),
            ),
        },
        Error::Conflict(Conflict::WindowPassed(Window::Recall)) => (
            bad,
            RECALL_TOO_OLD,
            "The message was sent too long ago to be recalled.".into(),
        ),
        Error::Conflict(Conflict::WrongMessageType) => (
            bad,
            TYPE_UNSUPPORTED,
            "This message type does not support this operation.".into(),
        ),
        // IM-level frequency control: HTTP 400, unlike the gateway's 99991400 (as documented).
        Error::Conflict(Conflict::TooFrequent) => (
            bad,
            IM_RATE_LIMITED,
            "Request trigger frequency limit, please retry later.".into(),
        ),
        Error::Conflict(Conflict::OwnerStays) => (
            bad,
            INVALID_PARAM,
            invalid_msg("the chat owner cannot be removed"),
        ),
        Error::Unavailable(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            INTERNAL,
            "Service temporarily unavailable, please retry.".into(),
        ),
        Error::Internal(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL,
            "Internal error.".into(),
        ),
    }
}

/// The one mapping of the file endpoints' refusals: Feishu answers them in its 234xxx
/// range, so a domain error met on the way (a message not found, a non-member) reads in
/// that range too; the rest are the messages' table's.
pub fn file_table(e: &switchboard_core::files::FileError) -> (StatusCode, i64, String) {
    use switchboard_core::files::FileError;
    let bad = StatusCode::BAD_REQUEST;
    match e {
        FileError::Empty => (bad, FILE_EMPTY, "File's size can't be 0.".into()),
        FileError::TooLarge { limit } => (
            bad,
            FILE_TOO_LARGE,
            format!("The file size exceed the max value ({limit} bytes)."),
        ),
        FileError::NotAnImage => (
            bad,
            FILE_BAD_IMAGE,
            "Can't recognize the image format.".into(),
        ),
        FileError::NotFound => (
            bad,
            FILE_INVALID_PARAM,
            "Invalid request param: file_key not found.".into(),
        ),
        FileError::NotUploader => (
            bad,
            FILE_NOT_UPLOADER,
            "The app is not the resource sender.".into(),
        ),
        FileError::NotInMessage => (bad, FILE_NOT_IN_MESSAGE, "File not in msg.".into()),
        FileError::Core(Error::NotFound(_)) => (
            bad,
            FILE_INVALID_PARAM,
            "Invalid request param: message_id not found.".into(),
        ),
        FileError::Core(Error::Forbidden(Denied::NotMember | Denied::NotInP2p)) => {
            (bad, FILE_APP_NOT_IN_CHAT, "App not in chat.".into())
        }
        FileError::Core(Error::Invalid { field, reason }) => (
            bad,
            FILE_INVALID_PARAM,
            format!("Invalid request param: {field}: {reason}."),
        ),
        FileError::Core(e) => table(None, e),
    }
}
