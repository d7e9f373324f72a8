"""Read an S3 object without holding it: a seekable, read-only file object over ranged GETs with
its own byte and request budget, and the object's sha256 computed by streaming.

`RangedReader` is what PyAV reads through (`runtime.media.opening` hands it to FFmpeg as custom
IO): FFmpeg's demuxers seek to the index (an MP4's `moov` is often at the end) and to one key
frame, so probing and a poster cost a few requests and a bounded number of bytes, whatever the
object's size. Reads are served from fixed-size blocks (a small LRU cache, so memory is bounded
by `block_size x cache_blocks`); a miss fetches the blocks it needs plus `read_ahead_blocks`
in one GET. Every GET names the version first seen (`VersionId` when the caller knows it, else
`IfMatch` on the first ETag), so the reader never mixes two uploads' bytes.

Going over `max_bytes` or `max_requests` raises `read_budget_exceeded` (permanent: the same
file needs the same reads); the reader also remembers it in `failure`, because FFmpeg may turn
a failed read into an early end of file, and `opening.open_media` re-raises it then. S3
throttling, 5xx and network errors are `TransientFault`s (retried by the processor); a missing
object or version is permanent (`object_missing`), a changed one transient (a newer event
follows).
"""

from __future__ import annotations

import hashlib
import io
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from runtime.errors import MediakitError, PermanentFault, TransientFault
from runtime.media.faults import READ_BUDGET_EXCEEDED, fault

BLOCK_SIZE = 256 * 1024
CACHE_BLOCKS = 16
READ_AHEAD_BLOCKS = 1
# A poster of a long 1080p video measured about 3 MB in 8 GETs (bench/media.py); the budget
# leaves room for a large index (a two-hour file's `moov` is a few MB) without allowing a
# download of the whole file.
MAX_BYTES = 64 * 1024 * 1024
MAX_REQUESTS = 200
HASH_CHUNK = 1024 * 1024
OBJECT_MISSING = "object_missing"
_MISSING = frozenset({"NoSuchKey", "NoSuchVersion", "404", "NoSuchBucket"})
_CHANGED = frozenset({"PreconditionFailed", "412"})


@dataclass(frozen=True)
class Budget:
    """Bytes and GET requests one reader may spend."""

    max_bytes: int = MAX_BYTES
    max_requests: int = MAX_REQUESTS


class RangedReader(io.RawIOBase):
    """A read-only, seekable binary file over one S3 object version (see the module doc).

    `bytes_fetched` and `requests` say what it cost so far; `size` is known after the first
    GET (or given by the caller, e.g. from the S3 event, which saves nothing but a check).
    """

    def __init__(
        self,
        client: Any,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        size: int | None = None,
        budget: Budget | None = None,
        block_size: int = BLOCK_SIZE,
        cache_blocks: int = CACHE_BLOCKS,
        read_ahead_blocks: int = READ_AHEAD_BLOCKS,
    ) -> None:
        super().__init__()
        if block_size < 4096 or read_ahead_blocks < 0 or cache_blocks < 2 + read_ahead_blocks:
            raise ValueError(
                "block_size >= 4096, read_ahead_blocks >= 0, cache_blocks >= 2 + read-ahead"
            )
        self._client = client
        self._bucket = bucket
        self._key = key
        self._version_id = version_id
        self._etag: str | None = None
        self._size = size
        self._budget = budget or Budget()
        self._block = block_size
        self._cache_blocks = cache_blocks
        self._read_ahead = read_ahead_blocks
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._position = 0
        self.bytes_fetched = 0
        self.requests = 0
        self.failure: MediakitError | None = None

    # --- io.RawIOBase -------------------------------------------------------------------------

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def writable(self) -> bool:
        return False

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        """At most `size` bytes from the current position (all the rest when -1 or None; the
        budget bounds that too)."""
        if self.failure is not None:
            raise self.failure
        end = self.size if size is None or size < 0 else min(self.size, self._position + size)
        if end <= self._position:
            return b""
        first, last = self._position // self._block, (end - 1) // self._block
        missing = [index for index in range(first, last + 1) if index not in self._blocks]
        if missing:
            self._fetch(missing[0], missing[-1])
        parts = []
        for index in range(first, last + 1):
            block = self._blocks.get(index)
            if block is None:  # the object is shorter than it said
                break
            self._blocks.move_to_end(index)
            start = index * self._block
            parts.append(block[max(0, self._position - start) : max(0, end - start)])
        data = b"".join(parts)
        self._position += len(data)
        # The blocks read ahead are the next ones wanted: keep them over the ones just read.
        for index in range(last + 1, last + 1 + self._read_ahead):
            if index in self._blocks:
                self._blocks.move_to_end(index)
        self._evict()
        return data

    # --- S3 -------------------------------------------------------------------------------------

    @property
    def size(self) -> int:
        """The object's length in bytes (one GET of the first blocks when not known yet)."""
        if self._size is None:
            self._fetch(0, 0)
        assert self._size is not None
        return self._size

    def _fetch(self, first: int, last: int) -> None:
        """GET blocks `first`..`last` (plus read-ahead) in one ranged request."""
        last_block = last + self._read_ahead
        if self._size is not None:
            last_block = min(last_block, max(0, (self._size - 1) // self._block))
        start = first * self._block
        end = (last_block + 1) * self._block - 1
        if self._size is not None:
            end = min(end, self._size - 1)
        length = end - start + 1
        if self.requests + 1 > self._budget.max_requests:
            self._fail(f"over the read budget of {self._budget.max_requests} GET requests")
        if self.bytes_fetched + length > self._budget.max_bytes:
            self._fail(f"over the read budget of {self._budget.max_bytes} bytes")
        body = self._get(start, end)
        self.requests += 1
        self.bytes_fetched += len(body)
        for index in range(first, last_block + 1):
            offset = (index - first) * self._block
            chunk = body[offset : offset + self._block]
            if chunk:
                self._blocks[index] = chunk
                self._blocks.move_to_end(index)

    def _get(self, start: int, end: int) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        request: dict[str, Any] = {
            "Bucket": self._bucket,
            "Key": self._key,
            "Range": f"bytes={start}-{end}",
        }
        if self._version_id is not None:
            request["VersionId"] = self._version_id
        elif self._etag is not None:
            request["IfMatch"] = self._etag
        try:
            response = self._client.get_object(**request)
            body: bytes = response["Body"].read()
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("InvalidRange", "416"):
                self._size = start if self._size is None else self._size
                return b""
            if code in _MISSING:
                raise self._remember(
                    PermanentFault(f"the object is gone: {code}", code=OBJECT_MISSING)
                ) from None
            if code in _CHANGED:
                raise self._remember(
                    TransientFault("the object changed while it was read")
                ) from None
            raise self._remember(TransientFault(f"S3 GetObject failed: {code}")) from None
        except BotoCoreError as exc:
            raise self._remember(
                TransientFault(f"S3 GetObject failed: {type(exc).__name__}")
            ) from None
        if self._size is None:
            self._size = _total(response.get("ContentRange"), start + len(body))
        if self._version_id is None and self._etag is None:
            self._etag = response.get("ETag")
        return body

    def _fail(self, message: str) -> None:
        raise self._remember(fault(READ_BUDGET_EXCEEDED, message))

    def _remember(self, error: MediakitError) -> MediakitError:
        if self.failure is None:
            self.failure = error
        return error

    def _evict(self) -> None:
        while len(self._blocks) > self._cache_blocks:
            self._blocks.popitem(last=False)


def _total(content_range: str | None, fallback: int) -> int:
    """The object's size from `bytes 0-262143/1234567`."""
    if content_range and "/" in content_range:
        total = content_range.rsplit("/", 1)[1]
        if total.isdigit():
            return int(total)
    return fallback


@dataclass(frozen=True)
class Digest:
    sha256: str
    size: int


def sha256_file(source: io.RawIOBase | io.BufferedIOBase, chunk: int = HASH_CHUNK) -> Digest:
    """sha256 and length of a file object read from its start in `chunk`-sized reads."""
    digest = hashlib.sha256()
    size = 0
    source.seek(0)
    while True:
        data = source.read(chunk)
        if not data:
            break
        digest.update(data)
        size += len(data)
    return Digest(digest.hexdigest(), size)


def sha256_object(
    client: Any,
    bucket: str,
    key: str,
    *,
    version_id: str | None = None,
    chunk: int = HASH_CHUNK,
) -> Digest:
    """sha256 and length of an S3 object from one streamed GET: memory stays at one chunk."""
    request: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id is not None:
        request["VersionId"] = version_id
    body = client.get_object(**request)["Body"]
    digest = hashlib.sha256()
    size = 0
    try:
        for data in body.iter_chunks(chunk):
            digest.update(data)
            size += len(data)
    finally:
        body.close()
    return Digest(digest.hexdigest(), size)
