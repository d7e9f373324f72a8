"""Domain errors with stable codes, mapped to HTTP status in exactly one place (`http_status`).

API errors travel to clients as `{"error": {"code": ..., "message": ...}}`; processing faults are
either permanent (the record ends `failed` with the code) or transient (the SQS message is
returned in `batchItemFailures` and retried, then dead-lettered).
"""

from __future__ import annotations


class MediakitError(Exception):
    """Base class: every error the kit raises on purpose carries a stable `code`."""

    code = "internal_error"
    http_status = 500

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def to_body(self) -> dict[str, dict[str, str]]:
        """The JSON error body every HTTP error uses."""
        return {"error": {"code": self.code, "message": self.message}}


class SettingsError(MediakitError, ValueError):
    """A setting (Pulumi config key or environment variable) is invalid; the message names it."""

    code = "invalid_settings"

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(f"{key}: {problem}")
        self.key = key


# --- HTTP API errors -----------------------------------------------------------------------------


class BadRequest(MediakitError):
    code = "bad_request"
    http_status = 400


class Unauthorized(MediakitError):
    code = "unauthorized"
    http_status = 401


class Forbidden(MediakitError):
    code = "forbidden"
    http_status = 403


class InsufficientScope(Forbidden):
    """A valid tenant whose token lacks the scope the operation needs (`runtime.scopes`)."""

    code = "insufficient_scope"


class NotFound(MediakitError):
    code = "not_found"
    http_status = 404


class MethodNotAllowed(MediakitError):
    code = "method_not_allowed"
    http_status = 405


class Conflict(MediakitError):
    code = "conflict"
    http_status = 409


class Gone(MediakitError):
    """What was asked for existed but can no longer be had (a restore after its window)."""

    code = "gone"
    http_status = 410


class PayloadTooLarge(MediakitError):
    code = "too_large"
    http_status = 413


class UnsupportedMediaType(MediakitError):
    code = "unsupported_media_type"
    http_status = 415


class TooManyRequests(MediakitError):
    """A per-tenant limit (`runtime.limits`): 429 with `Retry-After` (seconds, set by the HTTP
    layer from `retry_after`)."""

    code = "rate_limited"
    http_status = 429

    def __init__(self, message: str, *, code: str | None = None, retry_after: int = 1) -> None:
        super().__init__(message, code=code)
        self.retry_after = max(1, int(retry_after))


# --- processing faults ---------------------------------------------------------------------------


class PermanentFault(MediakitError):
    """The object can never be processed (not an image, bomb, truncated...): record `failed`."""

    code = "invalid_image"
    http_status = 422


class TransientFault(MediakitError):
    """Retry later (throttling, 5xx, timeouts): the message goes back to the queue."""

    code = "transient"
    http_status = 503
