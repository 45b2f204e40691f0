//! The vendor codes this dialect answers with (docs/dialects/lark.md has the table).

pub const INVALID_PARAM: i64 = 230001;
pub const NOT_IN_CHAT: i64 = 230002;
pub const BOT_DISABLED: i64 = 230006;
pub const RECALL_TOO_OLD: i64 = 230009;
pub const MESSAGE_RECALLED: i64 = 230011;
pub const CONTENT_TOO_LONG: i64 = 230025;
pub const NO_RECALL_PERMISSION: i64 = 230026;
pub const LACKS_PERMISSION: i64 = 230027;
pub const CARD_TOO_OLD: i64 = 230031;
pub const TYPE_UNSUPPORTED: i64 = 230054;
/// IM-level frequency control (e.g. an edit repeated too soon).
pub const IM_RATE_LIMITED: i64 = 230020;
pub const NOT_SENDER: i64 = 230071;
pub const EDIT_LIMIT: i64 = 230072;
pub const EDIT_TOO_OLD: i64 = 230075;
pub const MESSAGE_DELETED: i64 = 230110;
pub const CHAT_DISSOLVED: i64 = 232009;
/// The group APIs' own codes (Feishu's 232xxx family).
pub const CHAT_INVALID_PARAM: i64 = 232001;
pub const CHAT_NO_EDIT_PERMISSION: i64 = 232002;
pub const CHAT_ID_INVALID: i64 = 232006;
pub const CHAT_TYPE_UNSUPPORTED: i64 = 232008;
pub const CHAT_OPERATOR_OUTSIDE: i64 = 232011;
pub const CHAT_NEW_OWNER_OUTSIDE: i64 = 232012;
pub const CHAT_NO_PERMISSION: i64 = 232014;
pub const CHAT_ID_TYPE_UNSUPPORTED: i64 = 232015;
pub const CHAT_NOT_OWNER: i64 = 232017;
pub const CHAT_USER_ID_INVALID: i64 = 232030;
pub const CHAT_OWNER_KICKED: i64 = 232076;
/// The reaction APIs' own codes (Feishu's 231xxx family), and the pin and read-receipt
/// codes (docs/dialects/lark.md, "Reactions, pins, read receipts").
pub const REACTION_TYPE_INVALID: i64 = 231001;
pub const REACTION_NO_PERMISSION: i64 = 231002;
pub const REACTION_MESSAGE_NOT_FOUND: i64 = 231003;
pub const REACTION_CHAT_NOT_FOUND: i64 = 231004;
pub const REACTION_NOT_OPERATOR: i64 = 231007;
pub const REACTION_NO_ACCESS: i64 = 231008;
pub const REACTION_NOT_OF_MESSAGE: i64 = 231010;
pub const REACTION_ID_INVALID: i64 = 231011;
pub const REACTION_PAGE_TOKEN_INVALID: i64 = 231012;
pub const REACTION_USER_ID_TYPE_INVALID: i64 = 231014;
pub const NOT_MESSAGE_SENDER: i64 = 230012;
pub const READ_WINDOW_PASSED: i64 = 230033;
pub const PIN_CHAT_NOT_FOUND: i64 = 230045;
pub const INTERNAL: i64 = 2200;
pub const TOKEN_PARAM: i64 = 10003;
pub const BAD_SECRET: i64 = 10014;
pub const RATE_LIMITED: i64 = 99991400;
pub const TOKEN_MISSING: i64 = 99991661;
pub const TENANT_TOKEN_INVALID: i64 = 99991663;
pub const APP_TOKEN_INVALID: i64 = 99991664;
pub const TOKEN_FORMAT: i64 = 99991671;
pub const SCOPE_MISSING: i64 = 99991672;

// The file endpoints' codes (`files.rs`; docs/dialects/lark.md, "Files and images").
pub const FILE_INVALID_PARAM: i64 = 234001;
pub const FILE_NOT_IN_MESSAGE: i64 = 234003;
pub const FILE_APP_NOT_IN_CHAT: i64 = 234004;
pub const FILE_TOO_LARGE: i64 = 234006;
pub const FILE_BOT_DISABLED: i64 = 234007;
pub const FILE_NOT_UPLOADER: i64 = 234008;
pub const FILE_EMPTY: i64 = 234010;
pub const FILE_BAD_IMAGE: i64 = 234011;
