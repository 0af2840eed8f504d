"""LinkedIn's error answers: ``{"status", "serviceErrorCode", "code", "message"}``."""

from __future__ import annotations

from typing import Any

JSONDict = dict[str, Any]


class LinkedInError(Exception):
    """An error the fake LinkedIn answers with (raised by operations, rendered by the app)."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        service_error_code: int | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.service_error_code = service_error_code
        self.code = code
        self.headers = headers or {}

    def body(self) -> JSONDict:
        """The JSON body LinkedIn sends."""
        body: JSONDict = {"status": self.status, "message": self.message}
        if self.service_error_code is not None:
            body["serviceErrorCode"] = self.service_error_code
        if self.code is not None:
            body["code"] = self.code
        return body


def missing_token() -> LinkedInError:
    """No ``Authorization: Bearer`` header."""
    return LinkedInError(
        401, "Empty oauth2_access_token", service_error_code=401, code="EMPTY_ACCESS_TOKEN"
    )


def invalid_token() -> LinkedInError:
    """An unknown or revoked token."""
    return LinkedInError(
        401, "Invalid access token", service_error_code=65600, code="INVALID_ACCESS_TOKEN"
    )


def expired_token() -> LinkedInError:
    """A token past its expiry."""
    return LinkedInError(
        401,
        "The token used in the request has expired",
        service_error_code=65601,
        code="EXPIRED_ACCESS_TOKEN",
    )


def access_denied(what: str) -> LinkedInError:
    """The member may not act for this organization (no page role, or not the owner)."""
    return LinkedInError(
        403,
        f"Not enough permissions to access: {what}",
        service_error_code=100,
        code="ACCESS_DENIED",
    )


def missing_version() -> LinkedInError:
    """No ``LinkedIn-Version`` header on a versioned (``/rest``) call."""
    return LinkedInError(
        400,
        "A version must be present. Please specify a version by adding the LinkedIn-Version "
        "header.",
        code="VERSION_MISSING",
    )


def unknown_version(version: str) -> LinkedInError:
    """A ``LinkedIn-Version`` that does not exist or is no longer served."""
    return LinkedInError(
        426, f"Requested version {version} is not active", code="NONEXISTENT_VERSION"
    )


def not_found(what: str) -> LinkedInError:
    """An entity that does not exist (or was deleted)."""
    return LinkedInError(404, f"Not Found: {what}", code="NOT_FOUND")


def invalid(message: str) -> LinkedInError:
    """A request body LinkedIn refuses (a 422 with the field's problem)."""
    return LinkedInError(422, message, service_error_code=100, code="UNPROCESSABLE_ENTITY")


def bad_request(message: str) -> LinkedInError:
    """Malformed input (not JSON, unknown method, ...)."""
    return LinkedInError(400, message, code="ILLEGAL_ARGUMENT")


def throttled(scope: str) -> LinkedInError:
    """A 429: the application's (``APPLICATION``) or a member's (``MEMBER``) day limit."""
    return LinkedInError(
        429,
        f"Resource level throttle {scope} DAY limit for calls to this resource is reached.",
        code="TOO_MANY_REQUESTS",
    )


def server_error() -> LinkedInError:
    """A 500 (the effect may or may not have happened)."""
    return LinkedInError(500, "Internal Server Error", code="INTERNAL_SERVER_ERROR")
