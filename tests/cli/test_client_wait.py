"""`ApiClient.wait`: polite to a deployed API watched by many uploads at once (the interval
grows; a 429/503 waits its Retry-After and reads again instead of failing the upload)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from mediakit import client as client_module
from mediakit.client import ApiClient, ApiError


class Scripted(ApiClient):
    """Status reads answered from a script: a record dict, or an ApiError to raise."""

    def __init__(self, script: list[Any]) -> None:
        super().__init__("http://127.0.0.1:9", "token")
        self.script = script
        self.reads = 0

    def status(self, created: Mapping[str, Any]) -> dict[str, Any]:
        answer = self.script[min(self.reads, len(self.script) - 1)]
        self.reads += 1
        if isinstance(answer, ApiError):
            raise answer
        return dict(answer)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Every pause wait() takes, without taking it (the clock advances by it)."""
    now = [1000.0]
    taken: list[float] = []

    def sleep(seconds: float) -> None:
        taken.append(round(seconds, 3))
        now[0] += seconds

    monkeypatch.setattr(client_module.time, "sleep", sleep)
    monkeypatch.setattr(client_module.time, "monotonic", lambda: now[0])
    return taken


def _throttled(status: int = 429, retry_after: str | None = "3") -> ApiError:
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    body = {"error": {"code": "rate_limited", "message": "slow down"}}
    return ApiError(status, body, headers=headers)


def test_a_throttled_status_read_waits_its_retry_after_and_reads_again(
    sleeps: list[float],
) -> None:
    # GIVEN an API that throttles one read (429, Retry-After: 3), then says completed
    api = Scripted([{"status": "processing"}, _throttled(), {"status": "completed"}])
    # WHEN waited on THEN the upload completes: the 429 was a pause of 3 s, not a failure
    assert api.wait({"upload_id": "u"}, timeout=60)["status"] == "completed"
    assert 3.0 in sleeps
    assert api.reads == 3


def test_a_503_without_retry_after_is_retried_too_but_other_errors_are_not(
    sleeps: list[float],
) -> None:
    busy = Scripted([_throttled(503, None), {"status": "completed"}])
    assert busy.wait({"upload_id": "u"}, timeout=60)["status"] == "completed"
    forbidden = Scripted([ApiError(403, {"error": {"code": "forbidden", "message": "no"}})])
    with pytest.raises(ApiError, match="forbidden"):
        forbidden.wait({"upload_id": "u"}, timeout=60)


def test_the_poll_interval_grows_to_the_cap(sleeps: list[float]) -> None:
    # GIVEN an upload that stays processing for a minute
    api = Scripted([{"status": "processing"}])
    # WHEN waited on THEN the pauses grow from 0.2 s by half to 2 s: about 35 reads a minute,
    # not 300 (8 uploads watched at once stay far under a stage's 50 requests per second)
    record = api.wait({"upload_id": "u"}, timeout=60)
    assert record["status"] == "processing"
    assert sleeps[:3] == [0.2, 0.3, 0.45]
    assert max(sleeps) == client_module.MAX_POLL_SECONDS
    assert api.reads < 40


def test_the_token_never_goes_to_another_origin(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a status_url (from an answer, or a resume file someone edited) on another host
    sent: list[str] = []
    monkeypatch.setattr(client_module, "request", lambda method, url, **kw: sent.append(url))
    api = ApiClient("https://api.example.com/", "secret-token")
    for foreign in (
        "https://evil.example.net/v1/uploads/u",
        "http://api.example.com/v1/uploads/u",  # same host, plain http
        "https://api.example.com:8443/v1/uploads/u",
    ):
        # WHEN it is read THEN refused before any request: the token stays home
        with pytest.raises(ApiError, match="foreign_url"):
            api.call("GET", foreign)
    assert sent == []
