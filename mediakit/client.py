"""A small client of the upload API, standard library only: create an upload, send the bytes to
S3 with exactly what the API signed (multipart parts in parallel, resumable from a state file),
poll the status record, fetch derivatives.

Used by `mediakit upload`, `mediakit import`, `mediakit status` and the demo; works against the
emulator and a deployed stack alike.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import mimetypes
import queue
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote, urljoin, urlsplit

from mediakit import upload_state
from mediakit.upload_state import FileIdentity, StateError, UploadState
from runtime.keys import is_upload_id

TERMINAL_STATUSES = frozenset({"completed", "failed", "deleted", "expired"})
Progress = Callable[[int], None]
J = TypeVar("J")
R = TypeVar("R")
_CHUNK = 64 * 1024
MIB = 1024 * 1024
# S3's smallest part (but the last); the API's limit on declared part hashes per upload.
MIN_PART_BYTES = 5 * MIB
MAX_DECLARED_PARTS = 800
# Parts of one upload in flight at once, and attempts per part on a network error or a 5xx.
DEFAULT_PARALLEL = 4
PART_ATTEMPTS = 3


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), parts.port


# The longest pause between two status reads of one upload (`ApiClient.wait`).
MAX_POLL_SECONDS = 2.0


class ApiError(Exception):
    """A non-2xx answer: the HTTP status and the API's `{"error": {code, message}}` body."""

    def __init__(
        self, status: int, body: Any, url: str = "", headers: Mapping[str, str] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.url = url
        # Seconds a 429/503 asks the caller to wait (`Retry-After` in seconds), else None.
        retry = (headers or {}).get("retry-after", "")
        self.retry_after: float | None = float(retry) if retry.strip().isdigit() else None
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


def guessed_content_type(path: Path) -> str | None:
    """The content type a browser would declare for this file name; None when the name (no
    extension, or an unknown one) does not tell."""
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed


def guess_content_type(path: Path) -> str:
    """The content type a browser would declare for this file name."""
    return guessed_content_type(path) or "application/octet-stream"


def path_segment(value: str) -> str:
    """`value` as exactly one URL path segment: every reserved character percent-encoded, and
    the dot segments `.`/`..` too (`urljoin` and servers would resolve them), so an id can never
    make the client request another path."""
    if not value:
        raise ValueError("an empty path segment")
    if value in (".", ".."):
        return value.replace(".", "%2E")
    return quote(value, safe="")


def upload_path(upload_id: str, *rest: str) -> str:
    """`/v1/uploads/{upload_id}[/rest...]` with every segment encoded (`path_segment`)."""
    return "/".join(["/v1/uploads", *(path_segment(part) for part in (upload_id, *rest))])


def sha256_hex(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1024 * 1024), b""):
            digest.update(chunk)
    return digest.hexdigest()


def part_hashes(path: Path, part_size: int) -> tuple[str, list[str]]:
    """The file's SHA-256 and each `part_size` part's (hex), in one read of the file."""
    whole = hashlib.sha256()
    parts = []
    with path.open("rb") as fh:
        while True:
            part = hashlib.sha256()
            left = part_size
            while left:
                chunk = fh.read(min(MIB, left))
                if not chunk:
                    break
                whole.update(chunk)
                part.update(chunk)
                left -= len(chunk)
            if left == part_size:
                break
            parts.append(part.hexdigest())
    return whole.hexdigest(), parts


def fit_part_size(size: int, wanted: int) -> int:
    """`wanted` (at least S3's 5 MiB), grown to whole MiB until the parts number at most
    MAX_DECLARED_PARTS (what the API accepts hashes for)."""
    part = max(MIN_PART_BYTES, wanted)
    if -(-size // part) > MAX_DECLARED_PARTS:
        part = -(-size // MAX_DECLARED_PARTS)
        part = -(-part // MIB) * MIB
    return part


class UploadInterrupted(Exception):
    """A multipart upload stopped before completing (Ctrl-C, or a part that kept failing):
    its id, its status URL and the state file that resumes it."""

    def __init__(
        self, upload_id: str, status_url: str, state_file: Path | None, cause: BaseException
    ) -> None:
        self.upload_id = upload_id
        self.status_url = status_url
        self.state_file = state_file
        self.cause = cause
        super().__init__(f"upload {upload_id} interrupted: {cause!r}")


class CannotResume(Exception):
    """A state file that does not lead to a resumable upload (the reason is the message)."""


@dataclass
class Sent:
    """What one upload sent: the create answer (or a resume's summary) and the part bytes."""

    created: dict[str, Any]
    bytes_sent: int = 0
    resumed: bool = False


class ApiClient:
    """The upload API at `api_url`, called with a bearer `token`."""

    def __init__(self, api_url: str, token: str, *, timeout: float = 30) -> None:
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(
        self, method: str, path: str, body: Any = None, *, extra: Mapping[str, str] | None = None
    ) -> Any:
        """Call the API (with `extra` headers); return the JSON body of a 2xx or raise
        `ApiError`."""
        url = urljoin(self.api_url + "/", path.lstrip("/")) if "://" not in path else path
        if _origin(url) != _origin(self.api_url):
            # An absolute URL from an answer or a resume file (status_url): the bearer token
            # goes to the API it was issued for, never to wherever a URL points.
            raise ApiError(
                0,
                {
                    "error": {
                        "code": "foreign_url",
                        "message": f"{url} is not on {self.api_url}: the token is not sent there",
                    }
                },
                url,
            )
        headers = {
            **(extra or {}),
            "authorization": f"Bearer {self.token}",
            "accept": "application/json",
        }
        payload = None
        if body is not None:
            payload = json.dumps(body).encode("utf-8")
            headers["content-type"] = "application/json"
        resp = request(method, url, headers=headers, body=payload, timeout=self.timeout)
        data = resp.json()
        if not 200 <= resp.status < 300:
            raise ApiError(resp.status, data, url, resp.headers)
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
        idempotency_key: str | None = None,
        part_size: int | None = None,
        part_sha256: list[str] | None = None,
    ) -> dict[str, Any]:
        """POST /v1/uploads; with `idempotency_key`, a retry answers with the same upload;
        `part_size` + `part_sha256` declare a multipart plan with a SHA-256 per part."""
        body: dict[str, Any] = {"filename": filename, "content_type": content_type, "size": size}
        if sha256:
            body["sha256"] = sha256
        if method:
            body["method"] = method
        if metadata:
            body["metadata"] = dict(metadata)
        if part_size:
            body["part_size"] = part_size
        if part_sha256:
            body["part_sha256"] = part_sha256
        keyed = {"idempotency-key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = self.call("POST", "/v1/uploads", body, extra=keyed)
        return result

    def get_upload(self, upload_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self.call("GET", upload_path(upload_id))
        return result

    def delete_upload(self, upload_id: str) -> dict[str, Any]:
        """DELETE /v1/uploads/{id}: abort a pending upload, or delete a processed one."""
        result: dict[str, Any] = self.call("DELETE", upload_path(upload_id))
        return result

    def status(self, created: Mapping[str, Any]) -> dict[str, Any]:
        """The status record of an upload, via the `status_url` the API returned."""
        result: dict[str, Any] = self.call("GET", _status_url(created))
        return result

    def wait(
        self,
        created: Mapping[str, Any],
        *,
        timeout: float = 60,
        interval: float = 0.2,
        deadline: float | None = None,
    ) -> dict[str, Any]:
        """Poll the status record until it is terminal, or until `timeout` seconds pass (or the
        `time.monotonic()` `deadline`, when given): then the last record read, not terminal.

        Polite to a deployed API watched by many uploads at once: the interval grows by half
        after each read up to `MAX_POLL_SECONDS`, and a 429/503 (the stage's throttling, or a
        busy dependency) waits its Retry-After and reads again instead of failing the upload."""
        until = time.monotonic() + timeout if deadline is None else deadline
        while True:
            try:
                record = self.status(created)
            except ApiError as exc:
                if exc.status not in (429, 503) or time.monotonic() >= until:
                    raise
                pause = exc.retry_after if exc.retry_after is not None else interval
            else:
                if record.get("status") in TERMINAL_STATUSES or time.monotonic() >= until:
                    return record
                pause = interval
            interval = min(interval * 1.5, MAX_POLL_SECONDS)
            time.sleep(max(0.0, min(pause, until - time.monotonic())))

    def settle(
        self, created: Mapping[str, Any], *, seconds: float, interval: float = 0.2
    ) -> dict[str, Any]:
        """The status record once it has left `pending_upload` (S3's event reached the
        processor), re-read for at most `seconds`; else the last one read."""
        until = time.monotonic() + seconds
        while True:
            record = self.status(created)
            if record.get("status") != "pending_upload" or time.monotonic() >= until:
                return record
            time.sleep(max(0.0, min(interval, until - time.monotonic())))

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
            try:
                self.send_parts(created, path, progress)
            except UploadInterrupted as exc:
                # This path keeps no state to resume from: the caller sees the failure itself.
                raise exc.cause from None
        else:
            raise ValueError(f"unknown upload method {method!r}")

    def part_pages(self, upload: Mapping[str, Any], cursor: str = "0") -> Iterator[Any]:
        """The pages of `GET /v1/uploads/{id}/parts` from `cursor` on: what S3 holds, and
        fresh URLs for the parts it does not."""
        base = str(upload.get("parts_url") or f"{_status_url(upload)}/parts")
        following: str | None = cursor
        while following is not None:
            page: dict[str, Any] = self.call("GET", f"{base}?cursor={following}")
            yield page
            following = page.get("next_cursor")

    def send_parts(
        self,
        created: Mapping[str, Any],
        path: Path,
        progress: Progress | None = None,
        *,
        parallel: int = DEFAULT_PARALLEL,
        state: UploadState | None = None,
        resume: bool = False,
    ) -> int:
        """Send a multipart upload's parts, `parallel` at once, page by page (each page's
        URLs are fresh when it is fetched), then complete it; returns the part bytes sent.
        `resume`: start from what S3 holds (the parts route) rather than the create answer.
        Each acknowledged part goes into `state`; any failure, Ctrl-C included, raises
        `UploadInterrupted` with what resumes it."""
        etags: dict[int, str] = {}
        sent_bytes = 0

        def record(part: dict[str, Any], etag: str) -> None:
            nonlocal sent_bytes
            etags[int(part["part_number"])] = etag
            sent_bytes += int(part["size"])
            if state is not None:
                state.parts[int(part["part_number"])] = _state_part({**part, "etag": etag})
                state.save()

        try:
            pages: Iterator[Any] = (
                self.part_pages(created) if resume else _create_pages(self, created)
            )
            for page in pages:
                for held in page.get("uploaded") or []:
                    etags[int(held["part_number"])] = str(held["etag"])
                    if state is not None:
                        state.parts[int(held["part_number"])] = _state_part(held)
                    if progress is not None:
                        progress(int(held["size"]))  # the bar counts what S3 already holds
                part_size = int(page.get("part_size") or created["part_size"])

                def send(part: dict[str, Any], report: Progress, size: int = part_size) -> str:
                    return _put_part(part, path, size, report)

                in_parallel(
                    sorted(page.get("parts") or [], key=lambda p: int(p["part_number"])),
                    send,
                    parallel=parallel,
                    done=record,
                    note=None if progress is None else (lambda _part, n: progress(n)),
                    name="mediakit-part",
                )
            body = {"parts": [{"part_number": n, "etag": etags[n]} for n in sorted(etags)]}
            self.call("POST", f"{_status_url(created)}/complete", body)
        except BaseException as exc:
            if state is not None:
                state.save()
            raise UploadInterrupted(
                str(created["upload_id"]),
                _status_url(created),
                state.file if state is not None else None,
                exc,
            ) from exc
        if state is not None:
            state.remove()
        return sent_bytes

    def upload_resumable(
        self,
        path: Path,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        method: str | None = None,
        progress: Progress | None = None,
        parallel: int = DEFAULT_PARALLEL,
        part_size: int | None = None,
        state_dir: Path | None = None,
        resume: bool | None = None,
        idempotency_key: str | None = None,
    ) -> Sent:
        """Upload one file; multipart parts go `parallel` at once and, with `state_dir`, a
        state file (`mediakit.upload_state`) lets an interrupted upload resume.

        `part_size`: a file of at least two such parts goes multipart with that part size
        and a declared SHA-256 per part (S3 verifies each part against it). `resume`: None
        resumes when `state_dir` holds a state matching this file, True insists
        (`CannotResume` otherwise), False never resumes (a new upload replaces the state)."""
        state_path = upload_state.state_file(state_dir, path) if state_dir else None
        if resume and state_path is None:
            raise CannotResume("resuming needs a state directory")
        if state_path is not None and resume is not False:
            found = self._resumable(path, state_path, required=bool(resume))
            if found is not None:
                answer, kept = found
                sent = self.send_parts(
                    answer, path, progress, parallel=parallel, state=kept, resume=True
                )
                return Sent(answer, sent, resumed=True)
        size = path.stat().st_size
        chosen = None
        hashes: list[str] | None = None
        if part_size and size >= 2 * max(part_size, MIN_PART_BYTES):
            chosen = fit_part_size(size, part_size)
            whole, hashes = part_hashes(path, chosen)
        else:
            whole = sha256_hex(path)
        identity = FileIdentity.of(path) if state_path is not None else None
        asked: dict[str, Any] = {
            "filename": path.name,
            "content_type": content_type or guess_content_type(path),
            "size": size,
            "sha256": whole,
            "metadata": metadata,
            "idempotency_key": idempotency_key,
        }
        try:
            created = self.create_upload(
                **asked, method="MULTIPART" if chosen else method, part_size=chosen,
                part_sha256=hashes,
            )  # fmt: skip
        except ApiError as exc:
            # An API without declared part plans (deployed before them): its own plan, then.
            if not chosen or exc.code != "unknown_field":
                raise
            created = self.create_upload(**asked, method=method)
        if created.get("status", "pending_upload") != "pending_upload":
            # An idempotent retry of an upload whose bytes already arrived: nothing to send.
            return Sent(created, 0)
        if created.get("method") != "MULTIPART":
            self.send(created, path, progress)
            return Sent(created, size)
        state: UploadState | None = None
        if state_path is not None and identity is not None:
            state = UploadState(
                file=state_path,
                upload_id=str(created["upload_id"]),
                api_url=self.api_url,
                identity=identity,
                status_url=_status_url(created),
                part_size=int(created["part_size"]),
                part_count=int(created.get("part_count") or len(created.get("parts") or [])),
                checksums=created.get("checksum_algorithm") == "SHA256",
            )
            state.save()
        sent = self.send_parts(created, path, progress, parallel=parallel, state=state)
        return Sent(created, sent)

    def _resumable(
        self, path: Path, state_path: Path, *, required: bool
    ) -> tuple[dict[str, Any], UploadState] | None:
        """The upload a state file resumes, if it is for this file through this API and the
        upload is still pending; None (or `CannotResume` when `required`) otherwise."""
        try:
            state = upload_state.load(state_path)
            if state is None:
                raise CannotResume(f"no interrupted upload of {path} to resume")
        except (StateError, CannotResume) as exc:
            if required:
                raise CannotResume(str(exc)) from None
            return None
        problem = ""
        if not is_upload_id(state.upload_id):
            problem = f"{state_path}: {state.upload_id!r} is not an upload id"
        elif state.identity != FileIdentity.of(path):
            problem = (
                f"the upload state of {path} is for another file or an earlier version of it "
                "(path, size, mtime or first MiB differ): upload it again without --resume"
            )
        elif state.api_url != self.api_url:
            problem = f"upload {state.upload_id} was made through {state.api_url}"
        else:
            try:
                record = self.get_upload(state.upload_id)
            except ApiError as exc:
                record = {}
                problem = f"upload {state.upload_id} cannot be resumed: {exc}"
            if record and record.get("status") != "pending_upload":
                state.remove()  # finished or gone: nothing will ever resume it
                problem = f"upload {state.upload_id} is {record.get('status')}: nothing to resume"
        if problem:
            if required:
                raise CannotResume(problem)
            return None
        answer = {
            "upload_id": state.upload_id,
            "method": "MULTIPART",
            "status_url": state.status_url,
            "part_size": state.part_size,
            "part_count": state.part_count,
        }
        return answer, state

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
        raise ApiError(resp.status, _s3_error(resp.body), url.split("?", 1)[0], resp.headers)


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


def _status_url(upload: Mapping[str, Any]) -> str:
    return str(upload.get("status_url") or upload_path(str(upload["upload_id"])))


def _create_pages(client: ApiClient, created: Mapping[str, Any]) -> Iterator[Any]:
    """A new upload's pages: the create answer's part URLs, then the parts route from the
    answer's `next_cursor` (each page fetched when it is needed, so its URLs are fresh)."""
    yield created
    cursor = created.get("next_cursor")
    if cursor is not None:
        yield from client.part_pages(created, str(cursor))


def _state_part(part: Mapping[str, Any]) -> dict[str, str]:
    kept = {"etag": str(part["etag"])}
    if part.get("sha256"):
        kept["sha256"] = str(part["sha256"])
    return kept


def _put_part(part: Mapping[str, Any], path: Path, part_size: int, progress: Progress) -> str:
    """PUT one part from its offset in the file with exactly its signed headers, retried on a
    network error or a 5xx; returns S3's ETag."""
    size, number = int(part["size"]), int(part["part_number"])
    headers = {str(k): str(v) for k, v in (part.get("headers") or {}).items()}
    headers.setdefault("content-length", str(size))
    url = str(part["url"])
    for attempt in range(1, PART_ATTEMPTS + 1):
        sent = 0

        def counted(n: int) -> None:
            nonlocal sent
            sent += n
            progress(n)

        try:
            with path.open("rb") as fh:
                fh.seek((number - 1) * part_size)
                resp = request("PUT", url, headers=headers, body=_ProgressReader(fh, size, counted))
        except OSError:
            if attempt == PART_ATTEMPTS:
                raise
        else:
            if resp.status < 500 or attempt == PART_ATTEMPTS:
                _check(resp, url)
                return resp.headers["etag"]
        progress(-sent)  # the bar goes back by what this attempt sent
        time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")


def in_parallel(
    jobs: Sequence[J],
    run: Callable[[J, Callable[[Any], None]], R],
    *,
    parallel: int,
    done: Callable[[J, R], None],
    note: Callable[[J, Any], None] | None = None,
    name: str = "mediakit-worker",
) -> None:
    """Run `run(job, emit)` over `jobs` in at most `parallel` daemon threads. What a job emits,
    its result and its exception come back to this thread, which alone calls `note` and `done`
    (and raises the exception), and which Ctrl-C interrupts at once: the threads then take no
    more jobs, and a job in flight is abandoned."""
    if not jobs:
        return
    events: queue.Queue[tuple[str, Any, Any]] = queue.Queue()
    todo = list(reversed(jobs))
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            with lock:
                if not todo:
                    return
                job = todo.pop()

            def emit(value: Any, job: J = job) -> None:
                events.put(("note", job, value))

            try:
                result = run(job, emit)
            except BaseException as exc:  # handed to the main thread, which raises it
                events.put(("error", job, exc))
                return
            events.put(("done", job, result))

    threads = [
        threading.Thread(target=worker, daemon=True, name=f"{name}-{i}")
        for i in range(max(1, min(parallel, len(jobs))))
    ]
    for thread in threads:
        thread.start()
    remaining = len(jobs)
    try:
        while remaining:
            try:
                kind, job, value = events.get(timeout=0.2)
            except queue.Empty:
                if not any(t.is_alive() for t in threads) and events.empty():
                    raise RuntimeError(f"the {name} threads stopped with jobs left") from None
                continue
            if kind == "note":
                if note is not None:
                    note(job, value)
            elif kind == "done":
                remaining -= 1
                done(job, value)
            else:
                raise value
    finally:
        stop.set()


def download(url: str, dest: Path) -> int:
    """Fetch `url` into `dest`; returns the byte count."""
    resp = request("GET", url)
    _check(resp, url)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(resp.body)
    return len(resp.body)
