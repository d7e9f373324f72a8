"""Contract tests on `mediakit dev` with the real handlers: every route is driven through the
emulator's API Gateway front, successes and errors (400, API Gateway's 401/403/404, our 401/403
`insufficient_scope`, 404, 409, 410, 413, 415, 429), and each real response (status, the headers
the document specifies, body) is validated against `api/openapi.yaml`; every event the emulator's
bus carried meanwhile (completed, failed, deleted, restored, purged, expired) is validated
against its schema in `api/events/`.

One scenario runs once per module (`scenario`) and records every exchange; the tests assert on
what it recorded, so a failing check names the exchange."""

from __future__ import annotations

import hashlib
import json
import time
import urllib.parse
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from mediakit import apispec
from mediakit.client import request
from mediakit.corpus import media
from mediakit.local import oidc as jwt
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from mediakit.local.site import OPENAPI_PATH
from runtime import api as runtime_api
from runtime import http as runtime_http
from runtime.events import DETAIL_TYPES
from runtime.settings import Settings
from tests.emulator.conftest import jpeg_bytes

TENANT = "contract"
FLOOD = "contract-flood"
# Low enough that one tenant reaches it quickly, high enough for the scenario's own creates.
RATE = 20
# Audio and video on: their records carry `media` and their completed events `detail.media`.
SETTINGS = Settings(
    max_presigns_per_minute=RATE, list_page_size=2, media_kinds=("image", "audio", "video")
)
EVENTS_SAMPLE = Path(__file__).resolve().parents[1] / "events" / "sqs_s3_object_created.json"
VISIBILITY_SECONDS = 5
_NO_BODY = object()


@dataclass
class Seen:
    method: str
    path: str
    status: int
    operation: str  # `METHOD template`, or `no route`
    problem: str | None
    # What the document does not allow in the request (checked for answered requests).
    request_problems: list[str]
    headers: dict[str, str]
    body: bytes


@dataclass
class Scenario:
    env: DevEnv
    validator: apispec.Validator = field(default_factory=apispec.Validator)
    seen: list[Seen] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    component_checks: dict[str, str | None] = field(default_factory=dict)

    def call(
        self,
        method: str,
        path: str,
        expect: int | tuple[int, ...],
        *,
        token: str | None = None,
        body: Any = _NO_BODY,
        raw: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """One exchange with the API, validated against the document and recorded."""
        sent = dict(headers or {})
        if token is not None:
            sent["authorization"] = f"Bearer {token}"
        data = raw
        if body is not _NO_BODY:
            data = json.dumps(body).encode()
        if data is not None:
            sent.setdefault("content-type", "application/json")
        response = request(method, self.env.api_url + path, headers=sent, body=data)
        routed = apispec.match(method, path, self.validator.document)
        problem = None
        try:
            self.validator.response(
                method, path, response.status, response.headers, response.body,
                gateway_route_missing=routed is None,
            )  # fmt: skip
        except apispec.ContractError as exc:
            problem = str(exc)
        operation = f"{routed.method} {routed.template}" if routed else "no route"
        asked = self.validator.request_errors(method, path, sent, data) if routed else []
        self.seen.append(
            Seen(
                method, path, response.status, operation, problem, asked, response.headers,
                response.body,
            )
        )  # fmt: skip
        expected = expect if isinstance(expect, tuple) else (expect,)
        assert response.status in expected, (method, path, response.status, response.body[:400])
        return response.json()

    def wait(self, token: str, upload_id: str, *statuses: str, timeout: float = 30) -> Any:
        """Poll the record (each read validated) until its status is one of `statuses`."""
        deadline = time.monotonic() + timeout
        while True:
            record = self.call("GET", f"/v1/uploads/{upload_id}", 200, token=token)
            if record["status"] in statuses or time.monotonic() > deadline:
                assert record["status"] in statuses, record
                return record
            time.sleep(0.2)


def put_bytes(grant: Mapping[str, Any], data: bytes) -> None:
    sent = request("PUT", grant["url"], headers=grant["headers"], body=data)
    assert sent.status == 200, sent.body[:300]


def create_body(data: bytes, name: str = "photo.jpg", **extra: Any) -> dict[str, Any]:
    return {
        "filename": name,
        "content_type": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **extra,
    }


def expire(env: DevEnv, key: str) -> None:
    """What a retention rule does: S3 writes a delete marker on the original and notifies the
    ingest queue with `LifecycleExpiration:DeleteMarkerCreated` (the emulator runs no lifecycle)."""
    marker = env.client("s3").delete_object(Bucket=env.bucket, Key=key)
    body = json.loads(json.loads(EVENTS_SAMPLE.read_text())["Records"][0]["body"])
    record = body["Records"][0]
    record["eventName"] = "LifecycleExpiration:DeleteMarkerCreated"
    record["s3"]["bucket"].update(name=env.bucket, arn=f"arn:aws:s3:::{env.bucket}")
    record["s3"]["object"].update(
        key=urllib.parse.quote_plus(key, safe="/"),
        versionId=marker["VersionId"],
        sequencer="FFFFFFFFFFFFFFFF",
        size=0,
    )
    env.client("sqs").send_message(QueueUrl=env.queue_url, MessageBody=json.dumps(body))


def drain(env: DevEnv, wanted: Mapping[str, int], timeout: float = 20) -> list[dict[str, Any]]:
    """Every event on the emulator's tap queue until `wanted` counts per detail-type arrived."""
    sqs = env.client("sqs")
    found: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = Counter(e.get("detail-type") for e in found)
        if all(counts[t] >= n for t, n in wanted.items()):
            break
        batch = sqs.receive_message(
            QueueUrl=env.events_queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        )
        for message in batch.get("Messages", []):
            found.append(json.loads(message["Body"]))
            sqs.delete_message(
                QueueUrl=env.events_queue_url, ReceiptHandle=message["ReceiptHandle"]
            )
    return found


def run(s: Scenario) -> None:
    env = s.env
    user = mint_token(env, TENANT)
    admin = mint_token(env, TENANT, scopes=("media:admin",))
    photo = jpeg_bytes((640, 480))

    # --- the open route, and the document itself -----------------------------------------------
    s.call("GET", "/v1/health", 200)
    served = request("GET", env.api_url + OPENAPI_PATH)
    assert served.status == 200
    assert json.loads(served.body) == apispec.load_document()
    assert (
        "access-control-allow-origin"
        not in request(
            "GET", env.api_url + OPENAPI_PATH, headers={"origin": "https://evil.example"}
        ).headers
    )
    assert request("POST", env.api_url + OPENAPI_PATH, body=b"{}").status == 405

    # --- PUT: create, upload, poll to completed, download ------------------------------------
    put = s.call(
        "POST", "/v1/uploads", 201, token=user, body=create_body(photo, metadata={"album": "a"}),
        headers={"x-correlation-id": "contract-1"},
    )  # fmt: skip
    put_bytes(put, photo)
    s.wait(user, put["upload_id"], "completed")
    s.call("GET", f"/v1/uploads/{put['upload_id']}/download", 200, token=user)

    # --- POST (form) grant: created, not completed, aborted by its owner ----------------------
    form = s.call("POST", "/v1/uploads", 201, token=user, body=create_body(photo, method="POST"))
    s.call("GET", f"/v1/uploads/{form['upload_id']}/download", 409, token=user)
    s.call("DELETE", f"/v1/uploads/{form['upload_id']}", 200, token=user)

    # --- MULTIPART: part URLs, resume listing, part upload, complete --------------------------
    multi = s.call(
        "POST", "/v1/uploads", 201, token=user, body=create_body(photo, method="MULTIPART")
    )
    upload_id = multi["upload_id"]
    s.call("GET", f"/v1/uploads/{upload_id}/parts", 200, token=user)
    part = multi["parts"][0]
    sent = request("PUT", part["url"], headers=part["headers"], body=photo)
    assert sent.status == 200, sent.body[:300]
    parts = s.call("GET", f"/v1/uploads/{upload_id}/parts?limit=1", 200, token=user)
    assert [p["part_number"] for p in parts["uploaded"]] == [1]
    s.call("GET", f"/v1/uploads/{upload_id}/parts?cursor=x", 400, token=user)
    etag = sent.headers["etag"]
    s.call("POST", f"/v1/uploads/{upload_id}/complete", 400, token=user, body={"parts": []})
    s.call(
        "POST", f"/v1/uploads/{upload_id}/complete", 400, token=user,
        body={"parts": [{"part_number": 1, "etag": "x"}, {"part_number": 2, "etag": "y"}]},
    )  # fmt: skip
    s.call(
        "POST", f"/v1/uploads/{upload_id}/complete", 200, token=user,
        body={"parts": [{"part_number": 1, "etag": etag}]},
    )  # fmt: skip
    multi_done = s.wait(user, upload_id, "completed")
    s.call("POST", f"/v1/uploads/{put['upload_id']}/complete", 409, token=user,
           body={"parts": [{"part_number": 1, "etag": etag}]})  # fmt: skip
    s.call("GET", f"/v1/uploads/{put['upload_id']}/parts", 409, token=user)

    # --- idempotent create: replayed while pending (201), refused for another body, replayed as
    # the record once the bytes arrived (200)
    key = {"idempotency-key": "contract-key-1"}
    body = create_body(photo, name="again.jpg")
    first = s.call("POST", "/v1/uploads", 201, token=user, body=body, headers=key)
    again = s.call("POST", "/v1/uploads", 201, token=user, body=body, headers=key)
    assert again["upload_id"] == first["upload_id"]
    s.call("POST", "/v1/uploads", 409, token=user, body={**body, "filename": "other.jpg"},
           headers=key)  # fmt: skip
    s.call("POST", "/v1/uploads", 400, token=user, body=body,
           headers={"idempotency-key": "has spaces"})  # fmt: skip
    put_bytes(again, photo)
    s.wait(user, first["upload_id"], "completed")
    replayed = s.call("POST", "/v1/uploads", 200, token=user, body=body, headers=key)
    assert replayed["upload_id"] == first["upload_id"]
    assert "url" not in replayed

    # --- audio and video: the media function's records and events -----------------------------
    for name in ("song.wav", "clip.mp4"):
        sample = media.sample(name)
        body = {**create_body(sample.data, name=name), "content_type": sample.declared_type}
        grant = s.call("POST", "/v1/uploads", 201, token=user, body=body)
        put_bytes(grant, sample.data)
        done = s.wait(user, grant["upload_id"], "completed", timeout=90)
        assert done["media"]["kind"] in ("audio", "video")

    # --- a failed upload: bytes that are not a JPEG -------------------------------------------
    junk = b"this is not a JPEG at all, only text" * 4
    bad = s.call("POST", "/v1/uploads", 201, token=user, body=create_body(junk, name="bad.jpg"))
    put_bytes(bad, junk)
    s.wait(user, bad["upload_id"], "failed")

    # --- listing, with a cursor and a bad one -------------------------------------------------
    page = s.call("GET", "/v1/uploads", 200, token=user)
    assert page["next_cursor"]
    cursor = urllib.parse.quote(page["next_cursor"], safe="")
    s.call("GET", f"/v1/uploads?cursor={cursor}", 200, token=user)
    s.call("GET", "/v1/uploads?cursor=not-a-cursor", 400, token=user)
    done = s.call("GET", "/v1/uploads?status=completed&limit=1", 200, token=user)
    assert [r["status"] for r in done["items"]] == ["completed"]
    assert done["next_cursor"]
    cursor = urllib.parse.quote(done["next_cursor"], safe="")
    s.call("GET", f"/v1/uploads?status=completed&limit=1&cursor={cursor}", 200, token=user)
    s.call("GET", f"/v1/uploads?status=failed&cursor={cursor}", 400, token=user)  # other filters
    s.call("GET", "/v1/uploads?created_after=2026-01-01&created_before=2999-01-01", 200, token=user)
    s.call("GET", "/v1/uploads?status=bogus", 400, token=user)
    s.call("GET", "/v1/uploads?colour=red", 400, token=user)
    s.call("GET", "/v1/usage", 200, token=user)

    # --- delete, restore, purge ---------------------------------------------------------------
    target = put["upload_id"]
    s.call("DELETE", f"/v1/uploads/{target}", 403, token=user)  # insufficient_scope
    s.call("POST", f"/v1/uploads/{target}/restore", 409, token=admin)  # not_deleted
    s.call("DELETE", f"/v1/uploads/{target}?purge=maybe", 400, token=admin)
    s.call("DELETE", f"/v1/uploads/{target}", 200, token=admin)
    s.call("DELETE", f"/v1/uploads/{target}", 409, token=admin)  # already_deleted
    s.call("POST", f"/v1/uploads/{target}/restore", 403, token=user)  # API Gateway's route scope
    s.call("POST", f"/v1/uploads/{target}/restore", 202, token=admin)
    s.wait(user, target, "completed", timeout=60)
    purged = first["upload_id"]
    s.call("DELETE", f"/v1/uploads/{purged}?purge=true", 200, token=admin)
    s.call("POST", f"/v1/uploads/{purged}/restore", 410, token=admin)

    # --- a retention expiry of the multipart upload's original --------------------------------
    expire(env, multi_done["key"])
    s.wait(user, upload_id, "expired")

    # --- refusals of the create ---------------------------------------------------------------
    s.call("POST", "/v1/uploads", 400, token=user, raw=b"{not json")
    s.call("POST", "/v1/uploads", 400, token=user, body={**create_body(photo), "colour": "red"})
    s.call("POST", "/v1/uploads", 400, token=user, body={**create_body(photo), "size": 0})
    s.call("POST", "/v1/uploads", 413, token=user, body={**create_body(photo), "size": 10**12})
    s.call("POST", "/v1/uploads", 413, token=user, raw=b'{"filename": "' + b"x" * 70_000 + b'"}')
    s.call(
        "POST",
        "/v1/uploads",
        415,
        token=user,
        body={**create_body(photo), "content_type": "text/plain"},
    )

    # --- who may call at all ------------------------------------------------------------------
    s.call("GET", "/v1/uploads", 401)  # API Gateway: no token
    s.call("GET", "/v1/uploads", 401, token=user[:-4] + "AAAA")  # API Gateway: bad signature
    claims = {"iss": env.jwt_issuer, "aud": env.jwt_audience, "exp": int(time.time()) + 600}
    s.call("GET", "/v1/uploads", 401, token=jwt.sign(claims, env.jwt_signing_key))  # no tenant
    listed = jwt.sign({**claims, "sub": ["a", "b"]}, env.jwt_signing_key)
    s.call("GET", "/v1/uploads", 403, token=listed)  # invalid_tenant
    s.call("GET", "/v1/uploads/01JD0000000000000000000000", 404, token=user)
    s.call("GET", f"/v1/uploads/{target}", 404, token=mint_token(env, "someone-else"))
    s.call("GET", "/v1/nothing", 404, token=user)  # API Gateway: no such route
    s.call("PUT", "/v1/uploads", 404, token=user)  # API Gateway: no such method on the path

    # --- a per-tenant limit: the flood tenant's creates past maxPresignsPerMinute -------------
    flood = mint_token(env, FLOOD)
    # At most RATE succeed per clock minute: 2 * RATE + 1 creates (two windows at most) meet a 429.
    for _ in range(2 * RATE + 1):
        answer = s.call("POST", "/v1/uploads", (201, 429), token=flood, body=create_body(photo))
        if "error" in answer:
            break
    assert answer["error"]["code"] == "rate_limited"

    # --- 405: the function's answer to a method its routes lack (API Gateway never routes one)
    answer = runtime_http.handle(
        {"rawPath": "/v1/uploads", "requestContext": {"http": {"method": "PUT"}}},
        lambda r: runtime_api.route(r, None),  # type: ignore[arg-type]
    )
    try:
        s.validator.component("MethodNotAllowed", answer["headers"], answer["body"].encode())
        s.component_checks[f"{answer['statusCode']} MethodNotAllowed"] = None
    except apispec.ContractError as exc:
        s.component_checks[f"{answer['statusCode']} MethodNotAllowed"] = str(exc)

    # --- the bus: every event of the scenario ---------------------------------------------------
    wanted = {
        "media.upload.completed": 6,  # PUT, multipart, idempotent, audio, video, the restored one
        "media.upload.failed": 1,
        "media.upload.deleted": 2,  # the abort and the delete
        "media.upload.restored": 1,
        "media.upload.purged": 1,
        "media.upload.expired": 1,
    }
    s.events = drain(env, wanted)


@pytest.fixture(scope="module")
def scenario() -> Iterator[Scenario]:
    # A short visibility timeout: a restore's copy event that arrives before the API recorded
    # the copy's version is retried (runtime/ingest.py) in seconds, not the stack's minutes.
    with Emulator(SETTINGS, visibility_timeout=VISIBILITY_SECONDS) as env:
        s = Scenario(env)
        run(s)
        yield s


def test_contract_every_response_conforms_to_the_document(scenario: Scenario) -> None:
    # GIVEN every exchange of the scenario THEN each conformed to api/openapi.yaml
    problems = [f"{x.method} {x.path} {x.status}: {x.problem}" for x in scenario.seen if x.problem]
    assert problems == []
    assert scenario.component_checks == {"405 MethodNotAllowed": None}


def test_contract_every_answered_request_conforms_to_the_document(scenario: Scenario) -> None:
    # GIVEN every request the API answered with a 2xx THEN the document allows it as sent (its
    # query parameters, headers and body): what the API takes, the document describes
    problems = [
        f"{x.method} {x.path}: {x.request_problems}"
        for x in scenario.seen
        if 200 <= x.status < 300 and x.request_problems
    ]
    assert problems == []
    # and the check can fail: the requests refused for an unknown parameter or field broke it
    refused = {x.path: x.request_problems for x in scenario.seen if x.status == 400}
    assert refused["/v1/uploads?colour=red"] == ["query parameter colour is not declared"]


def test_contract_every_route_answered_a_success(scenario: Scenario) -> None:
    # GIVEN the document's routes THEN the scenario validated a 2xx answer of each
    succeeded = {x.operation for x in scenario.seen if 200 <= x.status < 300}
    assert succeeded == set(apispec.route_keys())


def test_contract_error_statuses_were_exercised(scenario: Scenario) -> None:
    # GIVEN the scenario's error answers THEN each kind of refusal was really answered, with the
    # body of who refused it (API Gateway's `message`, or our `error.code`)
    def code(x: Seen) -> str:
        body = json.loads(x.body)
        return str(body["error"]["code"]) if "error" in body else f"gateway:{body['message']}"

    answered = {(x.status, code(x)) for x in scenario.seen if x.status >= 400}
    assert {
        (400, "invalid_json"),
        (400, "unknown_field"),
        (400, "invalid_field"),
        (400, "invalid_cursor"),
        (400, "invalid_parts"),
        (400, "invalid_idempotency_key"),
        (401, "gateway:Unauthorized"),
        (401, "missing_tenant"),
        (403, "gateway:Forbidden"),
        (403, "insufficient_scope"),
        (403, "invalid_tenant"),
        (404, "not_found"),
        (404, "gateway:Not Found"),
        (409, "not_completed"),
        (409, "not_multipart"),
        (409, "not_deleted"),
        (409, "already_deleted"),
        (409, "idempotency_conflict"),
        (410, "gone"),
        (413, "too_large"),
        (413, "body_too_large"),
        (415, "unsupported_media_type"),
        (429, "rate_limited"),
    } <= answered


def test_contract_api_gateway_refusals_carry_their_challenge_and_ours_retry_after(
    scenario: Scenario,
) -> None:
    by_status = {x.status: x for x in scenario.seen if x.status in (401, 403, 429)}
    gateway_401 = next(x for x in scenario.seen if x.status == 401 and b'"error"' not in x.body)
    assert gateway_401.body == b'{"message":"Unauthorized"}'
    assert 'error="invalid_token"' in gateway_401.headers["www-authenticate"]
    gateway_403 = next(x for x in scenario.seen if x.status == 403 and b'"error"' not in x.body)
    assert 'error="insufficient_scope"' in gateway_403.headers["www-authenticate"]
    assert 'scope="media:admin"' in gateway_403.headers["www-authenticate"]
    assert int(by_status[429].headers["retry-after"]) >= 1


def test_contract_every_bus_event_conforms_to_its_schema(scenario: Scenario) -> None:
    # GIVEN every event the emulator's bus carried during the scenario
    seen = Counter(e.get("detail-type") for e in scenario.events)
    # THEN all six kinds went out, and each event conforms to its detail-type's schema
    assert set(seen) == set(DETAIL_TYPES), seen
    problems = {
        f"{e.get('detail-type')} {e['detail'].get('upload_id')}": apispec.event_errors(e)
        for e in scenario.events
    }
    assert {k: v for k, v in problems.items() if v} == {}


def test_contract_validation_of_a_real_response_can_fail(scenario: Scenario) -> None:
    # GIVEN a real record the scenario read WHEN a field is added or a required one removed
    real = next(
        x for x in scenario.seen if x.operation == "GET /v1/uploads/{id}" and x.status == 200
    )
    record = json.loads(real.body)
    validator = scenario.validator
    validator.response("GET", real.path, 200, real.headers, record)
    # THEN the document refuses both
    with pytest.raises(apispec.ContractError, match="Unevaluated properties"):
        validator.response("GET", real.path, 200, real.headers, {**record, "secret": "x"})
    missing = {k: v for k, v in record.items() if k != "tenant"}
    with pytest.raises(apispec.ContractError, match="'tenant' is a required property"):
        validator.response("GET", real.path, 200, real.headers, missing)
    # and a real event with its file name leaked into the detail is refused by its schema
    event = json.loads(json.dumps(scenario.events[0]))
    event["detail"]["filename"] = "photo.jpg"
    assert apispec.event_errors(event)
