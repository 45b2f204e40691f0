use super::*;
use crate::face::LogId;
use switchboard_core::error::{Conflict, Denied, Entity, Window};

#[test]
fn every_domain_error_maps_to_a_failure_code_for_every_operation() {
    for op in Op::ALL.map(Some).into_iter().chain([None]) {
        for e in Error::catalogue() {
            let (status, code, msg) = table(op, &e);
            assert_ne!(code, 0, "{op:?} {e:?}");
            assert!(
                status.is_client_error() || status.is_server_error(),
                "{op:?} {e:?} -> {status}"
            );
            assert!(!msg.is_empty());
            let server_side = matches!(e, Error::Unavailable(_) | Error::Internal(_));
            assert_eq!(
                status.is_server_error(),
                server_side,
                "only store failures are 5xx: {op:?} {e:?}"
            );
        }
    }
}

#[test]
fn operation_specific_codes() {
    let late = |w| Error::Conflict(Conflict::WindowPassed(w));
    assert_eq!(
        table(Some(Op::Recall), &late(Window::Recall)).1,
        RECALL_TOO_OLD
    );
    assert_eq!(
        table(Some(Op::UpdateCard), &late(Window::Edit)).1,
        CARD_TOO_OLD
    );
    assert_eq!(table(Some(Op::Edit), &late(Window::Edit)).1, EDIT_TOO_OLD);
    assert_eq!(
        table(Some(Op::Edit), &Error::Forbidden(Denied::NotSender)).1,
        NOT_SENDER
    );
    assert_eq!(
        table(Some(Op::Recall), &Error::Forbidden(Denied::NotChatAdmin)).1,
        NO_RECALL_PERMISSION
    );
    let gone = Error::NotFound(Entity::Chat);
    assert!(table(Some(Op::Send), &gone)
        .2
        .contains("ext=receive_id not found"));
    assert!(table(Some(Op::AddMembers), &gone)
        .2
        .contains("ext=chat_id not found"));
    let (_, code, msg) = table(Some(Op::Get), &Error::invalid("user_id_type", "bad"));
    assert_eq!(code, INVALID_PARAM);
    assert!(msg.contains("ext=user_id_type"), "{msg}");
}

#[test]
fn group_apis_answer_in_their_own_family() {
    let nf = Error::NotFound(Entity::Chat);
    assert_eq!(table(Some(Op::GetChat), &nf).1, CHAT_ID_INVALID);
    assert_eq!(table(Some(Op::ListMessages), &nf).1, INVALID_PARAM);
    assert!(table(Some(Op::ListMessages), &nf)
        .2
        .contains("ext=container_id not found"));
    let out = Error::Forbidden(Denied::NotMember);
    assert_eq!(table(Some(Op::ListMembers), &out).1, CHAT_OPERATOR_OUTSIDE);
    assert_eq!(table(Some(Op::ListMessages), &out).1, NOT_IN_CHAT);
    let plain = Error::Forbidden(Denied::NotChatAdmin);
    assert_eq!(
        table(Some(Op::UpdateChat), &plain).1,
        CHAT_NO_EDIT_PERMISSION
    );
    assert_eq!(table(Some(Op::DissolveChat), &plain).1, CHAT_NOT_OWNER);
    assert_eq!(table(Some(Op::RemoveMembers), &plain).1, CHAT_NO_PERMISSION);
    assert_eq!(
        table(Some(Op::UpdateChat), &Error::NotFound(Entity::Member)).1,
        CHAT_NEW_OWNER_OUTSIDE
    );
    assert_eq!(
        table(Some(Op::UpdateChat), &Error::invalid("chat", "p2p")).1,
        CHAT_TYPE_UNSUPPORTED
    );
    assert_eq!(
        table(
            Some(Op::RemoveMembers),
            &Error::Conflict(Conflict::OwnerStays)
        )
        .1,
        CHAT_OWNER_KICKED
    );
    assert_eq!(
        table(Some(Op::GetChat), &Error::Conflict(Conflict::ChatDissolved)).1,
        CHAT_DISSOLVED
    );
    // Chat create and member add keep the codes they answered before.
    assert_eq!(table(Some(Op::AddMembers), &out).1, NOT_IN_CHAT);
}

#[test]
fn a_handlers_operation_reaches_its_domain_refusal() {
    // `?` in an `Answer<op::AddMembers>` leaves the refusal for `tag_request`, tagged.
    let res = Refused::<op::AddMembers>::from(Error::NotFound(Entity::Chat)).into_response();
    assert!(!res.status().is_success());
    let pending = res.extensions().get::<Pending>().cloned().expect("pending");
    assert_eq!(pending.op, Some(Op::AddMembers));
    let ctx = Ctx {
        face: Face::Feishu,
        log_id: LogId("abc".into()),
    };
    let e = LarkError::core(&ctx, pending.op, pending.error);
    assert_eq!(e.code, INVALID_PARAM);
    assert!(e.msg.contains("ext=chat_id not found"), "{}", e.msg);
    // A ready rejection goes out as it is.
    let ready = Refused::<op::Get>::from(LarkError::invalid(&ctx, "x")).into_response();
    assert_eq!(ready.status(), StatusCode::BAD_REQUEST);
    assert!(ready.extensions().get::<Pending>().is_none());
}

#[test]
fn envelopes_per_face() {
    let hi = Ctx {
        face: Face::Hi,
        log_id: LogId("abc".into()),
    };
    let e = LarkError::invalid(&hi, "x");
    assert_eq!(e.code, INVALID_PARAM);
    assert!(e.msg.contains("ext=x"));
}

use switchboard_core::files::FileError;

#[test]
fn every_file_refusal_maps_to_a_failure_and_only_store_failures_are_5xx() {
    let mut all = vec![
        FileError::Empty,
        FileError::TooLarge { limit: 1 },
        FileError::NotAnImage,
        FileError::NotFound,
        FileError::NotUploader,
        FileError::NotInMessage,
    ];
    all.extend(Error::catalogue().into_iter().map(FileError::Core));
    for e in all {
        let (status, code, msg) = file_table(&e);
        assert_ne!(code, 0, "{e:?}");
        assert!(!msg.is_empty());
        let server_side = matches!(
            e,
            FileError::Core(Error::Unavailable(_) | Error::Internal(_))
        );
        assert_eq!(status.is_server_error(), server_side, "{e:?} -> {status}");
    }
    assert_eq!(
        file_table(&FileError::Core(Error::Forbidden(Denied::NotMember))).1,
        FILE_APP_NOT_IN_CHAT
    );
    assert_eq!(file_table(&FileError::NotInMessage).1, FILE_NOT_IN_MESSAGE);
}
