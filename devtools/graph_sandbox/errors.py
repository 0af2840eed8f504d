"""Meta-shaped Graph API errors: the exception the state raises and the JSON body it becomes.

Defaults (message, type, HTTP status, transience) follow Meta's Graph / Instagram error tables so
that a fault rule only needs ``code`` (and ``subcode``) to look like the real thing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

JSONDict = dict[str, Any]

OAUTH = "OAuthException"
GRAPH_METHOD = "GraphMethodException"


@dataclass(frozen=True, slots=True)
class _CodeDefault:
    message: str
    http_status: int = 400
    is_transient: bool = False
    type: str = OAUTH


# Top-level codes. HTTP status: 400 for most, 403 for code 4, 500 for codes 1/2 (as Meta does).
_CODE_DEFAULTS: dict[int, _CodeDefault] = {
    -2: _CodeDefault("The media could not be downloaded.", is_transient=True),
    -1: _CodeDefault(
        "An unexpected error has occurred. Please retry your request later.", 400, True
    ),
    1: _CodeDefault("An unknown error occurred", 500, True),
    2: _CodeDefault(
        "An unexpected error has occurred. Please retry your request later.", 500, True
    ),
    3: _CodeDefault("(#3) Application does not have the capability to make this API call."),
    4: _CodeDefault("(#4) Application request limit reached", 403, True),
    9: _CodeDefault("Application request limit reached", is_transient=True),
    10: _CodeDefault("(#10) Application does not have permission for this action"),
    17: _CodeDefault("(#17) User request limit reached", is_transient=True),
    24: _CodeDefault("The media could not be found."),
    25: _CodeDefault("The Instagram account is restricted."),
    32: _CodeDefault("(#32) Page request limit reached", is_transient=True),
    100: _CodeDefault("(#100) Invalid parameter"),
    101: _CodeDefault("Error validating application. Invalid application ID."),
    102: _CodeDefault("Session key invalid or no longer valid"),
    190: _CodeDefault("Invalid OAuth access token - Cannot parse access token"),
    191: _CodeDefault(
        "Can't load URL: The domain of this URL isn't included in the app's domains."
    ),
    200: _CodeDefault("(#200) Permissions error"),
    324: _CodeDefault("(#324) Requires upload file"),
    341: _CodeDefault("(#341) Application limit reached", is_transient=True),
    352: _CodeDefault("The video format is not supported."),
    368: _CodeDefault(
        "The action attempted has been deemed abusive or is otherwise disallowed", is_transient=True
    ),
    506: _CodeDefault("(#506) Duplicate status message"),
    613: _CodeDefault("(#613) Calls to this api have exceeded the rate limit.", is_transient=True),
    1609005: _CodeDefault("(#1609005) Error posting link: the link could not be scraped."),
    2500: _CodeDefault("Unknown path components"),
    9004: _CodeDefault("Only photo or video can be accepted as media type."),
    9007: _CodeDefault("Media ID is not available"),
    36000: _CodeDefault("The image size is too large."),
    36001: _CodeDefault("The image format is not supported."),
    36003: _CodeDefault("The aspect ratio is not supported."),
    36004: _CodeDefault("The caption is too long."),
    80001: _CodeDefault(
        "(#80001) There have been too many calls to this Page account. Wait a bit and try again. "
        "For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        is_transient=True,
    ),
    80002: _CodeDefault(
        "(#80002) There have been too many calls to this Instagram account. Wait a bit and try "
        "again. For more info, please refer to "
        "https://developers.facebook.com/docs/graph-api/overview/rate-limiting.",
        is_transient=True,
    ),
}

# Subcodes: (user title, user message). From Meta's Instagram error-code table and token docs.
_SUBCODE_DEFAULTS: dict[int, tuple[str, str]] = {
    458: ("", "Error validating access token: The user has not authorized application."),
    459: ("", "Error validating access token: The user is enrolled in a blocking checkpoint."),
    460: (
        "",
        "Error validating access token: The session has been invalidated because the user "
        "changed their password or Facebook has changed the session for security reasons.",
    ),
    463: ("", "Error validating access token: Session has expired."),
    464: ("", "Error validating access token: The user is not a confirmed user."),
    467: ("", "Error validating access token: The user has logged out."),
    492: ("", "Error validating access token: The user does not have a role on the Page."),
    1390008: (
        "You Can't Use This Feature Right Now",
        "You're posting too fast. Slow down and try again later.",
    ),
    2207001: ("Instagram server error", "Instagram server error. Try again."),
    2207003: ("Media download timed out", "It takes too long to download the media."),
    2207004: ("Image size too large", "The image is too large to download."),
    2207005: ("Unsupported image format", "The image format is not supported."),
    2207006: ("Media not found", "The media cannot be found"),
    2207008: (
        "Media builder expired",
        "The media builder does not exist or has been expired.",
    ),
    2207009: ("Aspect ratio not supported", "The submitted image's aspect ratio is not supported."),
    2207010: ("Caption too long", "The submitted caption is too long."),
    2207020: (
        "Media expired",
        "The media you are trying to access has expired. Please try to upload again.",
    ),
    2207023: ("Unknown media type", "The media type is unknown."),
    2207026: ("Unsupported video format", "The video format is not supported."),
    2207027: ("Media not ready", "The media is not ready for publishing, please wait for a moment"),
    2207028: (
        "Carousel size",
        "Your post won't work as a carousel. Carousels need at least 2 photos/videos and no more "
        "than 10 photos/videos.",
    ),
    2207032: ("Create media failed", "Create media fail, please try to re-create media"),
    2207040: ("Too many tags", "Cannot use more than 20 tags per created media."),
    2207042: (
        "Publishing limit reached",
        "You reached maximum number of posts that is allowed to be published by Content "
        "Publishing API.",
    ),
    2207050: ("Account restricted", "The Instagram account is restricted."),
    2207051: (
        "Action blocked",
        "We restrict certain activity to protect our community. Tell us if you think we made a "
        "mistake.",
    ),
    2207052: ("Media download failed", "The media could not be fetched from this uri."),
    2207053: ("Upload error", "unknown upload error"),
}

# Which top-level code goes with an IG subcode (used when only a subcode is known).
SUBCODE_TO_CODE: dict[int, int] = {
    2207001: -1,
    2207003: -2,
    2207004: 36000,
    2207005: 36001,
    2207006: 24,
    2207008: 24,
    2207009: 36003,
    2207010: 36004,
    2207020: -2,
    2207023: 100,
    2207026: 352,
    2207027: 9007,
    2207028: 100,
    2207032: -1,
    2207040: 100,
    2207042: 9,
    2207050: 25,
    2207051: 4,
    2207052: 9004,
    2207053: -1,
}


class GraphError(Exception):
    """A Graph API error; raised by the pure state layer, rendered by the HTTP layer."""

    def __init__(
        self,
        code: int,
        subcode: int | None = None,
        *,
        message: str | None = None,
        type: str | None = None,
        http_status: int | None = None,
        is_transient: bool | None = None,
        user_title: str | None = None,
        user_msg: str | None = None,
        regain_minutes: int | None = None,
    ) -> None:
        default = _CODE_DEFAULTS.get(code, _CodeDefault("An unknown error occurred"))
        sub_title, sub_msg = _SUBCODE_DEFAULTS.get(subcode, ("", "")) if subcode else ("", "")
        self.code = code
        self.subcode = subcode
        self.message = message or default.message
        self.type = type or default.type
        self.http_status = http_status or default.http_status
        self.is_transient = default.is_transient if is_transient is None else is_transient
        self.user_title = user_title if user_title is not None else sub_title
        self.user_msg = user_msg if user_msg is not None else sub_msg
        # Minutes until a rate-limited account may call again (80001/80002/4/...).
        self.regain_minutes = regain_minutes
        # Read-after-write: the write took effect, only the read failed; Meta's error then
        # carries what the write alone would have answered.
        self.original_response: JSONDict | None = None
        super().__init__(f"({code}/{subcode}) {self.message}")

    def body(self, trace_id: str | None = None) -> JSONDict:
        """The exact ``{"error": {...}}`` body Meta sends."""
        err: JSONDict = {"message": self.message, "type": self.type, "code": self.code}
        if self.subcode is not None:
            err["error_subcode"] = self.subcode
        if self.user_title:
            err["error_user_title"] = self.user_title
        if self.user_msg:
            err["error_user_msg"] = self.user_msg
        err["is_transient"] = self.is_transient
        err["fbtrace_id"] = trace_id or new_trace_id()
        if self.original_response is not None:
            err["original_response"] = self.original_response
        return {"error": err}


def new_trace_id() -> str:
    """A random id shaped like Meta's ``fbtrace_id``."""
    return "A" + secrets.token_urlsafe(16)[:22]


def missing_token() -> GraphError:
    """Meta's answer to a call without an access token."""
    return GraphError(
        190,
        message="An active access token must be used to query information about the current user.",
    )


def invalid_token(subcode: int | None = None) -> GraphError:
    """Token not accepted (unknown for a locked account, revoked, expired...)."""
    if subcode is None:
        return GraphError(190)
    _, msg = _SUBCODE_DEFAULTS.get(subcode, ("", "Error validating access token."))
    return GraphError(190, subcode, message=msg, user_msg="")


def invalid_param(message: str, subcode: int | None = None) -> GraphError:
    """Code 100 with a specific message."""
    text = message if message.startswith("(#100)") else f"(#100) {message}"
    return GraphError(100, subcode, message=text)


def missing_param(name: str) -> GraphError:
    """Code 100 for a missing required parameter."""
    return invalid_param(f"The parameter {name} is required")


def unsupported_request(method: str, object_id: str) -> GraphError:
    """Meta's 100/33 for unknown, deleted or inaccessible objects."""
    return GraphError(
        100,
        33,
        type=GRAPH_METHOD,
        message=(
            f"Unsupported {method.lower()} request. Object with ID '{object_id}' does not exist, "
            "cannot be loaded due to missing permissions, or does not support this operation. "
            "Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api"
        ),
    )


def nonexisting_field(field: str, node_type: str) -> GraphError:
    """Code 100 for a field or edge the node type does not have."""
    return invalid_param(f"Tried accessing nonexisting field ({field}) on node type ({node_type})")


def unknown_path(path: str) -> GraphError:
    """Code 2500 for a path the Graph API does not know."""
    return GraphError(2500, message=f"Unknown path components: {path}")


def ig_error(subcode: int, user_msg: str | None = None) -> GraphError:
    """An Instagram publishing error identified by its subcode (code looked up in Meta's table)."""
    return GraphError(SUBCODE_TO_CODE.get(subcode, 100), subcode, user_msg=user_msg)


def permission_error(code: int, message: str) -> GraphError:
    """Code 10 / 200-style permission errors."""
    return GraphError(code, message=message)
