"""`mediakit loadtest`: N uploads from C concurrent clients through the real HTTP API and S3, a
seeded mix of valid images and hostile files, then a check that nothing was lost.

Every upload must reach a terminal status matching its file (`mediakit.corpus.hostile` says
which), the DLQ must not grow (no fault in the mix is transient), and the report gives counts per
outcome, throughput and time-to-terminal percentiles. Runs against `mediakit dev` (its env file)
or an emulator started in this process.

With `retry_creates` every create is sent twice with the same `Idempotency-Key` (a client that
lost the first answer and retried), the bytes go to the URL of the retry's answer, and the report
counts uploads per key: the upload ids the answers named, plus every upload of the run (its
creates carry the run's id in their metadata; found by the tenants' listing, `GET
/v1/uploads?created_after=`) that no key was answered with. Any key with more than one upload,
or any such extra upload, is a duplicate and fails the run."""

from __future__ import annotations

import hashlib
import random
import secrets
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from mediakit.corpus.hostile import CORPUS, FAILED, valid_jpeg
from runtime.settings import Settings

DEFAULT_TENANTS = 4
# Status polls back off from 0.1 s to 0.5 s: fine resolution for fast uploads without the
# polling itself (a DynamoDB read per poll) crowding out the processing it waits for.
POLL_FIRST = 0.1
POLL_MAX = 0.5


@dataclass(frozen=True)
class Job:
    """One planned upload and the (status, code) the pipeline owes it."""

    index: int
    tenant: str
    name: str
    data: bytes = field(repr=False)
    content_type: str
    expected: tuple[str, str | None]


@dataclass
class Result:
    job: Job
    upload_id: str = ""
    status: str = "lost"
    code: str | None = None
    seconds: float = 0.0
    problem: str = ""
    # With retried creates: the key and every upload id its answers named (one, if idempotent).
    idempotency_key: str = ""
    answered_ids: tuple[str, ...] = ()

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed")

    @property
    def ok(self) -> bool:
        return not self.problem and (self.status, self.code) == self.job.expected


@dataclass
class Report:
    results: list[Result]
    wall_seconds: float
    concurrency: int
    dlq_before: int
    dlq_after: int
    # Retried creates: uploads the tenants' listings show for the run that no answer named.
    retried: bool = False
    unanswered_uploads: int = 0

    @property
    def duplicates(self) -> int:
        """Uploads beyond one per Idempotency-Key (0 without retried creates)."""
        extra = sum(max(0, len(set(r.answered_ids)) - 1) for r in self.results)
        return extra + self.unanswered_uploads

    @property
    def lost(self) -> list[Result]:
        return [r for r in self.results if not r.terminal]

    @property
    def misclassified(self) -> list[Result]:
        return [r for r in self.results if r.terminal and not r.ok]

    @property
    def dlq_growth(self) -> int:
        return self.dlq_after - self.dlq_before

    @property
    def passed(self) -> bool:
        return (
            not self.lost
            and not self.misclassified
            and self.dlq_growth == 0
            and self.duplicates == 0
        )

    def counts(self) -> dict[str, int]:
        return dict(
            sorted(
                Counter(
                    f"{r.status}:{r.code}" if r.code else r.status for r in self.results
                ).items()
            )
        )

    def percentile(self, q: float) -> float:
        times = sorted(r.seconds for r in self.results if r.terminal)
        if not times:
            return 0.0
        if len(times) == 1:
            return times[0]
        return statistics.quantiles(times, n=100, method="inclusive")[round(q * 100) - 1]

    def to_json(self) -> dict[str, Any]:
        n = len(self.results)
        return {
            "uploads": n,
            "concurrency": self.concurrency,
            "wall_seconds": round(self.wall_seconds, 2),
            "uploads_per_second": round(n / self.wall_seconds, 2) if self.wall_seconds else 0.0,
            "p50_seconds": round(self.percentile(0.50), 3),
            "p95_seconds": round(self.percentile(0.95), 3),
            "outcomes": self.counts(),
            "lost": len(self.lost),
            "misclassified": len(self.misclassified),
            "dlq_growth": self.dlq_growth,
            "idempotent_retries": self.retried,
            "duplicates": self.duplicates,
            "passed": self.passed,
        }


def plan(n: int, *, invalid_ratio: float, seed: int, settings: Settings) -> list[Job]:
    """A seeded mix: valid JPEGs (each different) and corpus files the API accepts."""
    rng = random.Random(seed)
    usable = [f for f in CORPUS if f.presignable(settings) and f.declared_size is None]
    invalid = [f for f in usable if f.expected_for(settings)[0] == FAILED]
    valid = [f for f in usable if f.expected_for(settings)[0] != FAILED]
    jobs = []
    for i in range(n):
        tenant = f"load-{i % DEFAULT_TENANTS}"
        entry = None
        if invalid and rng.random() < invalid_ratio:
            entry = rng.choice(invalid)
        elif valid and rng.random() < 0.25:
            entry = rng.choice(valid)
        if entry is not None:
            jobs.append(
                Job(i, tenant, entry.name, entry.data, entry.declared_type,
                    entry.expected_for(settings))
            )  # fmt: skip
        else:
            jobs.append(
                Job(i, tenant, f"valid-{i}.jpg", valid_jpeg(seed * 100_000 + i), "image/jpeg",
                    ("completed", None))
            )  # fmt: skip
    return jobs


RUN_METADATA_KEY = "loadtest-run"
# How far before the run's start (by this machine's clock) the listing looks for its uploads:
# the server's clock may be behind; the run's metadata, not the time, decides what is its.
LISTING_SLACK = timedelta(minutes=5)


def run_one(
    job: Job, client: Any, *, timeout: float, idempotency_key: str = "", run_id: str = ""
) -> Result:
    """Create (with `idempotency_key`: twice, as a retrying client would, using the retry's
    answer), PUT exactly the signed headers, then poll the status until terminal."""
    from mediakit.client import ApiError, request

    result = Result(job, idempotency_key=idempotency_key)
    started = time.monotonic()
    asked = {
        "filename": job.name,
        "content_type": job.content_type,
        "size": len(job.data),
        "sha256": hashlib.sha256(job.data).hexdigest(),
    }
    if run_id:
        asked["metadata"] = {RUN_METADATA_KEY: run_id}
    try:
        if idempotency_key:
            first = client.create_upload(**asked, idempotency_key=idempotency_key)
            created = client.create_upload(**asked, idempotency_key=idempotency_key)
            result.answered_ids = (first["upload_id"], created["upload_id"])
        else:
            created = client.create_upload(**asked)
        result.upload_id = created["upload_id"]
        put = request("PUT", created["url"], headers=created["headers"], body=job.data)
        if not 200 <= put.status < 300:
            result.problem = f"PUT answered {put.status}"
            return result
        deadline = started + timeout
        interval = POLL_FIRST
        while True:
            record = client.status(created)
            if record.get("status") in ("completed", "failed"):
                result.seconds = time.monotonic() - started
                result.status = record["status"]
                result.code = (record.get("error") or {}).get("code")
                return result
            if time.monotonic() >= deadline:
                result.status = str(record.get("status"))
                result.problem = f"still {result.status} after {timeout:.0f} s"
                return result
            time.sleep(interval)
            interval = min(POLL_MAX, interval * 1.5)
    except (ApiError, OSError) as exc:
        result.problem = f"{type(exc).__name__}: {exc}"
        return result


def run(
    env: Any,
    jobs: list[Job],
    *,
    concurrency: int,
    timeout: float = 120,
    dlq_depth: Callable[[], int] | None = None,
    retry_creates: bool = False,
) -> Report:
    """Run `jobs` with `concurrency` client threads against the dev env `env` (a DevEnv);
    `retry_creates`: every create twice under one Idempotency-Key, uploads counted per key."""
    from mediakit.client import ApiClient
    from mediakit.local.emulator import mint_token

    clients = {
        tenant: ApiClient(env.api_url, mint_token(env, tenant))
        for tenant in sorted({j.tenant for j in jobs})
    }
    depth = dlq_depth or _dlq_depth(env)
    before = depth()
    lock = threading.Lock()
    results: list[Result] = []

    # Unique per run: a key of an earlier run against the same emulator must not replay.
    run_id = secrets.token_hex(6)
    since = datetime.now(UTC) - LISTING_SLACK

    def work(job: Job) -> None:
        key = f"load-{run_id}-{job.index}" if retry_creates else ""
        outcome = run_one(
            job,
            clients[job.tenant],
            timeout=timeout,
            idempotency_key=key,
            run_id=run_id if retry_creates else "",
        )
        with lock:
            results.append(outcome)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="load") as pool:
        list(pool.map(work, jobs))
    wall = time.monotonic() - started
    results.sort(key=lambda r: r.job.index)
    unanswered = 0
    if retry_creates:
        answered = {i for r in results for i in (*r.answered_ids, r.upload_id) if i}
        for client in clients.values():
            unanswered += len(set(_listed_since(client, since, run_id)) - answered)
    report = Report(results, wall, concurrency, before, depth())
    report.retried, report.unanswered_uploads = retry_creates, unanswered
    return report


def _listed_since(client: Any, since: datetime, run_id: str) -> list[str]:
    """Every upload id of run `run_id` the client's tenant created after `since` (the unfiltered
    listing leaves deleted ones out; a load run deletes none)."""
    ids: list[str] = []
    query = {"created_after": since.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "limit": "100"}
    cursor = None
    while True:
        page = client.call(
            "GET", "/v1/uploads?" + urlencode({**query, **({"cursor": cursor} if cursor else {})})
        )
        ids += [
            item["upload_id"]
            for item in page["items"]
            if (item.get("metadata") or {}).get(RUN_METADATA_KEY) == run_id
        ]
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


def _dlq_depth(env: Any) -> Callable[[], int]:
    from mediakit.local.event_source import queue_depth

    sqs = env.client("sqs")
    return lambda: queue_depth(sqs, env.dlq_url)


def format_report(report: Report) -> str:
    summary = report.to_json()
    lines = [
        f"uploads      {summary['uploads']} with {summary['concurrency']} concurrent clients",
        f"wall time    {summary['wall_seconds']} s",
        f"throughput   {summary['uploads_per_second']} uploads/s",
        f"to terminal  p50 {summary['p50_seconds']} s, p95 {summary['p95_seconds']} s",
        "outcomes     " + ", ".join(f"{k}={v}" for k, v in summary["outcomes"].items()),
        f"lost         {summary['lost']}",
        f"misclassified {summary['misclassified']}",
        f"DLQ growth   {summary['dlq_growth']}",
    ]
    if report.retried:
        lines.append(
            f"duplicates   {summary['duplicates']} (every create retried with its Idempotency-Key)"
        )
    for r in [*report.lost, *report.misclassified][:20]:
        lines.append(
            f"  ! #{r.job.index} {r.job.name} {r.upload_id or '-'}: got {r.status}:{r.code}, "
            f"expected {r.job.expected[0]}:{r.job.expected[1]} {r.problem}"
        )
    lines.append("PASS" if report.passed else "FAIL")
    return "\n".join(lines)
