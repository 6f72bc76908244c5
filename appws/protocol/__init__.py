"""The AppWebsocket protocol rules, free of Django and of any I/O."""

from appws.protocol.build import check_build_url, is_build_number
from appws.protocol.closecodes import FINAL_CLOSE_CODES, RESTART_CLOSE_CODES, CloseCode
from appws.protocol.envelope import (
    DEFAULT_MAX_MESSAGE_BYTES,
    FrameError,
    binary_frame_error,
    decode_frame,
    encode_frame,
    encode_message,
)
from appws.protocol.jsjson import js_stringify
from appws.protocol.login import (
    CHALLENGE_LENGTH,
    LOGIN_FIELDS,
    encode_login,
    login_digest,
    new_challenge,
    raw_member_text,
    verify_login,
)
from appws.protocol.loginfields import (
    ISSUABLE_CHALLENGE,
    LoginKind,
    ambiguous_field,
    forbidden_in,
    is_issuable_challenge,
    login_kind,
)
from appws.protocol.pbxinfo import PbxIdentity, PbxInfo
from appws.protocol.sessionkey import decrypt, encrypt, keyed_hash, rc4, session_key

__all__ = [
    "CHALLENGE_LENGTH",
    "DEFAULT_MAX_MESSAGE_BYTES",
    "FINAL_CLOSE_CODES",
    "ISSUABLE_CHALLENGE",
    "LOGIN_FIELDS",
    "RESTART_CLOSE_CODES",
    "CloseCode",
    "FrameError",
    "LoginKind",
    "PbxIdentity",
    "PbxInfo",
    "ambiguous_field",
    "binary_frame_error",
    "check_build_url",
    "decode_frame",
    "decrypt",
    "encode_frame",
    "encode_login",
    "encode_message",
    "encrypt",
    "forbidden_in",
    "is_build_number",
    "is_issuable_challenge",
    "js_stringify",
    "keyed_hash",
    "login_digest",
    "login_kind",
    "new_challenge",
    "raw_member_text",
    "rc4",
    "session_key",
    "verify_login",
]
