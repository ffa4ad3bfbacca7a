//! The `errcode`s the simulator answers, with WeChat's `errmsg` texts.
//!
//! Kept apart from `patron_wechat::api::codes` on purpose: the simulator is the
//! client's test oracle and must not share its assumptions by construction.

/// −1 system busy (only through failure injection).
pub const SYSTEM_BUSY: i64 = -1;
/// invalid credential / access_token is invalid or not latest; also a token
/// superseded by a newer `/cgi-bin/token` fetch once its 5-minute grace is over.
pub const INVALID_CREDENTIAL: i64 = 40001;
/// invalid grant_type.
pub const INVALID_GRANT_TYPE: i64 = 40002;
/// invalid openid.
pub const INVALID_OPENID: i64 = 40003;
/// invalid media_id (empty mpnews / image media_id).
pub const INVALID_MEDIA_ID: i64 = 40007;
/// invalid message type.
pub const INVALID_MESSAGE_TYPE: i64 = 40008;
/// invalid appid.
pub const INVALID_APPID: i64 = 40013;
/// invalid access_token (characters no issued token has).
pub const INVALID_ACCESS_TOKEN: i64 = 40014;
/// invalid button size (top level: 1 to 3).
pub const INVALID_BUTTON_SIZE: i64 = 40016;
/// invalid button type.
pub const INVALID_BUTTON_TYPE: i64 = 40017;
/// invalid button name size (top level: 1 to 16 bytes).
pub const INVALID_BUTTON_NAME_SIZE: i64 = 40018;
/// invalid button key size (1 to 128 bytes).
pub const INVALID_BUTTON_KEY_SIZE: i64 = 40019;
/// invalid button url size (1 to 1024 bytes).
pub const INVALID_BUTTON_URL_SIZE: i64 = 40020;
/// invalid sub_menu level (a sub-button with its own sub_button).
pub const INVALID_SUB_MENU_LEVEL: i64 = 40022;
/// invalid sub button size (1 to 5).
pub const INVALID_SUB_BUTTON_SIZE: i64 = 40023;
/// invalid sub button type.
pub const INVALID_SUB_BUTTON_TYPE: i64 = 40024;
/// invalid sub button name size (1 to 60 bytes).
pub const INVALID_SUB_BUTTON_NAME_SIZE: i64 = 40025;
/// invalid sub button key size.
pub const INVALID_SUB_BUTTON_KEY_SIZE: i64 = 40026;
/// invalid sub button url size.
pub const INVALID_SUB_BUTTON_URL_SIZE: i64 = 40027;
/// invalid openid list size.
pub const INVALID_OPENID_LIST_SIZE: i64 = 40032;
/// invalid action name (QR code).
pub const INVALID_ACTION_NAME: i64 = 40052;
/// invalid action info (QR code scene).
pub const INVALID_ACTION_INFO: i64 = 40053;
/// invalid msg id (mass/get of an unknown send).
pub const INVALID_MSG_ID: i64 = 40059;
/// invalid args (a miniprogram button without appid or pagepath).
pub const INVALID_ARGS: i64 = 40097;
/// invalid appsecret.
pub const INVALID_APPSECRET: i64 = 40125;
/// invalid openid list size, at least two openid: `mass/send` with fewer than 2 or
/// more than 10 000 openids.
pub const INVALID_OPENID_SIZE: i64 = 40130;
/// out of limit of ticket: the simulator's answer past the permanent QR cap (WeChat
/// documents the cap, not the code).
pub const TICKET_LIMIT: i64 = 40131;
/// invalid username: a `towxname` no simulated user has (see
/// `Account::set_wxname`).
pub const INVALID_WXNAME: i64 = 40132;
/// access_token missing.
pub const ACCESS_TOKEN_MISSING: i64 = 41001;
/// appid missing.
pub const APPID_MISSING: i64 = 41002;
/// appsecret missing.
pub const SECRET_MISSING: i64 = 41004;
/// openid missing.
pub const OPENID_MISSING: i64 = 41009;
/// access_token expired.
pub const ACCESS_TOKEN_EXPIRED: i64 = 42001;
/// require POST method.
pub const REQUIRE_POST: i64 = 43002;
/// require subscribe: a preview to a user who does not follow.
pub const REQUIRE_SUBSCRIBE: i64 = 43004;
/// empty post data.
pub const EMPTY_POST_DATA: i64 = 44002;
/// article size out of limit (news with more than one article).
pub const ARTICLE_SIZE_OUT_OF_LIMIT: i64 = 45008;
/// reach max api daily quota limit.
pub const API_DAILY_QUOTA: i64 = 45009;
/// api minute-quota reach limit (also force_refresh within 30 s).
pub const API_MINUTE_QUOTA: i64 = 45011;
/// response out of time limit or subscription is canceled.
pub const RESPONSE_OUT_OF_TIME: i64 = 45015;
/// out of response count limit.
pub const RESPONSE_COUNT_EXCEEDED: i64 = 45047;
/// too many tags.
pub const TOO_MANY_TAGS: i64 = 45056;
/// can't delete the tag that has too many fans.
pub const TAG_HAS_TOO_MANY_FANS: i64 = 45057;
/// can't modify sys tag.
pub const RESERVED_TAG: i64 = 45058;
/// can not tagging one user too much.
pub const USER_HAS_TOO_MANY_TAGS: i64 = 45059;
/// clientmsgid exist (with the existing msg_id).
pub const CLIENTMSGID_DUPLICATE: i64 = 45065;
/// same clientmsgid retry too fast.
pub const CLIENTMSGID_RETRY_TOO_FAST: i64 = 45066;
/// clientmsgid size out of limit.
pub const CLIENTMSGID_TOO_LONG: i64 = 45067;
/// invalid tag name (empty, or another tag's).
pub const INVALID_TAG_NAME: i64 = 45157;
/// tag name too long.
pub const TAG_NAME_TOO_LONG: i64 = 45158;
/// invalid tag id.
pub const INVALID_TAG_ID: i64 = 45159;
/// menu no exist.
pub const MENU_NOT_EXIST: i64 = 46003;
/// data format error (the body is not JSON, or lacks a required field).
pub const DATA_FORMAT_ERROR: i64 = 47001;
/// the openid belongs to another appid of this simulator.
pub const OPENID_NOT_OF_APPID: i64 = 49003;

/// WeChat's `errmsg` for a code (its English wording where known).
pub fn errmsg(code: i64) -> &'static str {
    match code {
        SYSTEM_BUSY => "system error",
        INVALID_CREDENTIAL => "invalid credential, access_token is invalid or not latest",
        INVALID_GRANT_TYPE => "invalid grant_type",
        INVALID_OPENID => "invalid openid",
        INVALID_MEDIA_ID => "invalid media_id",
        INVALID_MESSAGE_TYPE => "invalid message type",
        INVALID_APPID => "invalid appid",
        INVALID_ACCESS_TOKEN => "invalid access_token",
        INVALID_BUTTON_SIZE => "invalid button size",
        INVALID_BUTTON_TYPE => "invalid button type",
        INVALID_BUTTON_NAME_SIZE => "invalid button name size",
        INVALID_BUTTON_KEY_SIZE => "invalid button key size",
        INVALID_BUTTON_URL_SIZE => "invalid button url size",
        INVALID_SUB_MENU_LEVEL => "invalid sub_menu level",
        INVALID_SUB_BUTTON_SIZE => "invalid sub button size",
        INVALID_SUB_BUTTON_TYPE => "invalid sub button type",
        INVALID_SUB_BUTTON_NAME_SIZE => "invalid sub button name size",
        INVALID_SUB_BUTTON_KEY_SIZE => "invalid sub button key size",
        INVALID_SUB_BUTTON_URL_SIZE => "invalid sub button url size",
        INVALID_OPENID_LIST_SIZE => "invalid openid list size",
        INVALID_ACTION_NAME => "invalid action name",
        INVALID_ACTION_INFO => "invalid action info, please check document",
        INVALID_MSG_ID => "invalid msg id",
        INVALID_ARGS => "invalid args",
        INVALID_APPSECRET => "invalid appsecret",
        INVALID_OPENID_SIZE => "invalid openid list size, at least two openid",
        TICKET_LIMIT => "out of limit of ticket",
        INVALID_WXNAME => "invalid username",
        ACCESS_TOKEN_MISSING => "access_token missing",
        APPID_MISSING => "appid missing",
        SECRET_MISSING => "appsecret missing",
        OPENID_MISSING => "missing openid",
        ACCESS_TOKEN_EXPIRED => "access_token expired",
        REQUIRE_POST => "require POST method",
        REQUIRE_SUBSCRIBE => "require subscribe",
        EMPTY_POST_DATA => "empty post data",
        ARTICLE_SIZE_OUT_OF_LIMIT => "article size out of limit",
        API_DAILY_QUOTA => "reach max api daily quota limit",
        API_MINUTE_QUOTA => "api minute-quota reach limit",
        RESPONSE_OUT_OF_TIME => "response out of time limit or subscription is canceled",
        RESPONSE_COUNT_EXCEEDED => "out of response count limit",
        TOO_MANY_TAGS => "too many tag now, no need to add new",
        TAG_HAS_TOO_MANY_FANS => "can't delete the tag that has too many fans",
        RESERVED_TAG => "can't modify sys tag",
        USER_HAS_TOO_MANY_TAGS => "can not tagging one user too much",
        CLIENTMSGID_DUPLICATE => "clientmsgid exist",
        CLIENTMSGID_RETRY_TOO_FAST => "same clientmsgid retry too fast",
        CLIENTMSGID_TOO_LONG => "clientmsgid size out of limit",
        INVALID_TAG_NAME => "invalid tag name",
        TAG_NAME_TOO_LONG => "tag name too long",
        INVALID_TAG_ID => "invalid tag id",
        MENU_NOT_EXIST => "menu no exist",
        DATA_FORMAT_ERROR => "data format error",
        OPENID_NOT_OF_APPID => "invalid openid, not belong to this appid",
        _ => "simulated error",
    }
}
