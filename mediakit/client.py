"""A small client of the upload API, standard library only: create an upload, send the bytes to
S3 with exactly what the API signed, poll the status record, fetch derivatives.

Used by `mediakit upload`, `mediakit status` and the demo; works against the emulator and a
deployed stack alike.
"""

from __future__ import annotations

import http.client
import json
import mimetypes
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import urljoin, urlsplit

TERMINAL_STATUSES = frozenset({"completed", "failed", "deleted", "expired"})
Progress = Callable[[int], None]
_CHUNK = 64 * 1024


class ApiError(Exception):
    """A non-2xx answer: the HTTP status and the API's `{"error": {code, message}}` body."""

    def __init__(self, status: int, body: Any, url: str = "") -> None:
        self.status = status
        self.body = body
        self.url = url
        error = body.get("error") if isinstance(body, dict) else None
        self.code = str(error.get("code")) if isinstance(error, dict) else f"http_{status}"
        self.message = str(error.get("message")) if isinstance(error, dict) else str(body)[:500]
        super().__init__(f"HTTP {status} {self.code}: {self.message}")

    def to_json(self) -> dict[str, Any]:
        if isinstance(self.body, dict) and "error" in self.body:
            return {"status": self.status, **self.body}
        return {"status": self.status, "error": {"code": self.code, "message": self.message}}


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except ValueError:
            return self.body.decode("utf-8", "replace")


class _ProgressReader:
    """A file slice that reports each chunk read, so a streaming PUT can drive a progress bar."""

    def __init__(self, fh: IO[bytes], length: int, progress: Progress | None) -> None:
        self._fh = fh
        self._left = length
        self._progress = progress

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if size is None or size < 0 else min(size, self._left)
        data = self._fh.read(n)
        self._left -= len(data)
        if self._progress is not None and data:
            self._progress(len(data))
        return data


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | _ProgressReader | None = None,
    timeout: float = 60,
) -> Response:
    """One HTTP request with exactly `headers` (plus Host); no redirects, no added headers."""
    parts = urlsplit(url)
    conn: http.client.HTTPConnection
    if parts.scheme == "https":
        conn = http.client.HTTPSConnection(parts.netloc, timeout=timeout, blocksize=_CHUNK)
    elif parts.scheme == "http":
        conn = http.client.HTTPConnection(parts.netloc, timeout=timeout, blocksize=_CHUNK)
    else:
        raise ValueError(f"unsupported URL scheme in {url!r}")
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    try:
        conn.request(method, target, body=body, headers=dict(headers or {}))
        resp = conn.getresponse()
        data = resp.read()
        return Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)
    finally:
        conn.close()


def guess_content_type(path: Path) -> str:
    """The content type a browser would declare for this file name."""
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or "application/octet-stream"


def sha256_hex(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


class ApiClient:
    """The upload API at `api_url`, called with a bearer `token`."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 30) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> Any:
        """Call the API; return the JSON body of a 2xx or raise `ApiError`."""
        url = urljoin(self.api_url + "/", path.lstrip("/")) if "://" not in path else path
        headers = {"authorization": f"Bearer {self.token}", "accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        resp = request(method, url, headers=headers, body=payload, timeout=self.timeout)
        data = resp.json()
        if not 200 <= resp.status < 300:
            raise ApiError(resp.status, data, url)
        return data

    def create_upload(
        self,
        *,
        filename: str,
        content_type: str,
        size: int,
        sha256: str | None = None,
        metadata: Mapping[str, str] | None = None,
        method: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"filename": filename, "content_type": content_type, "size": size}
        if sha256:
            body["sha256"] = sha256
        if method:
            body["method"] = method
        if metadata:
            body["metadata"] = dict(metadata)
        result: dict[str, Any] = self.call("POST", "/v1/uploads", body)
        return result

    def get_upload(self, upload_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", f"/v1/uploads/{upload_id}")
        return result

    def status(self, created: Mapping[str, Any]) -> dict[str, Any]:
        """The status record of an upload, via the `status_url` the API returned."""
        path = str(created.get("status_url") or f"/v1/uploads/{created['upload_id']}")
        result: dict[str, Any] = self.call("GET", path)
        return result

    def wait(
        self, created: Mapping[str, Any], *, timeout: float = 60, interval: float = 0.2
    ) -> dict[str, Any]:
        """Poll the status record until it is terminal (or `timeout` seconds pass)."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.status(created)
            if record.get("status") in TERMINAL_STATUSES or time.monotonic() >= deadline:
                return record
            time.sleep(interval)

    def send(
        self, created: Mapping[str, Any], path: Path, progress: Progress | None = None
    ) -> None:
        """Send the file the way the API said: PUT, form POST or multipart parts + complete."""
        method = created.get("method")
        if method == "PUT":
            _put(str(created["url"]), dict(created.get("headers") or {}), path, progress)
        elif method == "POST":
            _post_form(str(created["url"]), dict(created.get("fields") or {}), path, progress)
        elif method == "MULTIPART":
            parts = _put_parts(list(created.get("parts") or []), path, progress)
            self.call("POST", f"/v1/uploads/{created['upload_id']}/complete", {"parts": parts})
        else:
            raise ValueError(f"unknown upload method {method!r}")

    def upload(
        self,
        path: Path,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        method: str | None = None,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        """Presign and send one file; returns the create-upload response.

        `method` asks for PUT or POST (the API picks MULTIPART above its threshold anyway).
        """
        created = self.create_upload(
            filename=path.name,
            content_type=content_type or guess_content_type(path),
            size=path.stat().st_size,
            sha256=sha256_hex(path),
            metadata=metadata,
            method=method,
        )
        self.send(created, path, progress)
        return created


def _check(resp: Response, url: str) -> None:
    if not 200 <= resp.status < 300:
        raise ApiError(resp.status, _s3_error(resp.body), url.split("?", 1)[0])


def _s3_error(body: bytes) -> dict[str, Any]:
    """S3 answers in XML; reshape its Code/Message into the API's error format."""
    import re

    text = body.decode("utf-8", "replace")
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    return {
        "error": {
            "code": code.group(1) if code else "s3_error",
            "message": message.group(1) if message else text[:300],
        }
    }


def _put(url: str, headers: dict[str, str], path: Path, progress: Progress | None) -> None:
    size = path.stat().st_size
    with path.open("rb") as fh:
        # Exactly the signed headers: anything else would break the signature on real S3.
        resp = request("PUT", url, headers=headers, body=_ProgressReader(fh, size, progress))
    _check(resp, url)


def _post_form(url: str, fields: dict[str, str], path: Path, progress: Progress | None) -> None:
    boundary = "mediakit-" + secrets.token_hex(12)
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'
            f"{value}\r\n".encode()
        )
    # S3 ignores every field after `file`, so it comes last.
    chunks.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="upload"\r\n'
        f"Content-Type: {fields.get('Content-Type', 'application/octet-stream')}\r\n\r\n".encode()
    )
    data = path.read_bytes()
    body = b"".join([*chunks, data, f"\r\n--{boundary}--\r\n".encode()])
    resp = request(
        "POST",
        url,
        headers={
            "content-type": f"multipart/form-data; boundary={boundary}",
            "content-length": str(len(body)),
        },
        body=body,
    )
    _check(resp, url)
    if progress is not None:
        progress(len(data))


def _put_parts(
    parts: list[dict[str, Any]], path: Path, progress: Progress | None
) -> list[dict[str, Any]]:
    done = []
    with path.open("rb") as fh:
        for part in sorted(parts, key=lambda p: int(p["part_number"])):
            size = int(part["size"])
            headers = {str(k): str(v) for k, v in (part.get("headers") or {}).items()}
            headers.setdefault("content-length", str(size))
            url = str(part["url"])
            resp = request("PUT", url, headers=headers, body=_ProgressReader(fh, size, progress))
            _check(resp, url)
            done.append({"part_number": int(part["part_number"]), "etag": resp.headers["etag"]})
    return done


def download(url: str, dest: Path) -> int:
    """Fetch `url` into `dest`; returns the byte count."""
    resp = request("GET", url)
    _check(resp, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(resp.body)
    return len(resp.body)
