"""S3's error documents: the status, XML body and headers S3 answers a refused request with.

The body is S3's REST error response, `<Error><Code/><Message/>...<RequestId/><HostId/></Error>`,
with the extra elements S3 adds for some codes (for example `StringToSign` on
`SignatureDoesNotMatch`, `ServerTime` on an expired URL), in the order S3 writes them:
https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html#RESTErrorResponses
"""

from __future__ import annotations

import base64
import http
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape


class S3Error(Exception):
    """A refusal as S3 words it: the `code` and `message` from S3's error list, the HTTP status
    S3 answers it with, and the extra elements S3 adds for that code, in order."""

    def __init__(
        self, status: int, code: str, message: str, details: Sequence[tuple[str, str]] = ()
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.details = tuple(details)


@dataclass(frozen=True)
class ErrorResponse:
    """What the endpoint sends for an `S3Error`: a WSGI status line, headers and body."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes


def error_response(error: S3Error, *, head: bool = False) -> ErrorResponse:
    """Render `error` as S3 does; a HEAD answer has S3's status and headers but no body."""
    request_id = secrets.token_hex(8).upper()
    host_id = base64.b64encode(secrets.token_bytes(48)).decode("ascii")
    elements = [("Code", error.code), ("Message", error.message), *error.details]
    elements += [("RequestId", request_id), ("HostId", host_id)]
    xml = "".join(f"<{name}>{escape(value)}</{name}>" for name, value in elements)
    body = f'<?xml version="1.0" encoding="UTF-8"?>\n<Error>{xml}</Error>'.encode()
    headers = [
        ("Content-Type", "application/xml"),
        ("x-amz-request-id", request_id),
        ("x-amz-id-2", host_id),
        ("Content-Length", "0" if head else str(len(body))),
    ]
    phrase = http.HTTPStatus(error.status).phrase
    return ErrorResponse(f"{error.status} {phrase}", headers, b"" if head else body)
