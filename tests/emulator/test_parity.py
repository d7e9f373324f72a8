"""The emulator's resources, functions and mapping come from the synthesized stack
(tests/emulator/test_stack_provisioning.py); what remains a mirror is the API stand-in's routes
and CORS defaults: keep them equal, so what runs locally is what gets deployed."""

from __future__ import annotations

import pytest

from mediakit.local import emulator
from mediakit.local import gateway as devapi

api = pytest.importorskip("stacks.api")
queues = pytest.importorskip("stacks.queues")
storage = pytest.importorskip("stacks.storage")


def test_parity_routes_match_the_stack() -> None:
    # GIVEN / WHEN / THEN the front serves exactly the routes the HTTP API declares
    assert set(devapi.ROUTES) == set(api.ROUTES)


def test_parity_default_gateway_serves_the_stacks_open_routes_without_a_token() -> None:
    # GIVEN a gateway built without a synthesized graph (its defaults)
    routes = devapi.compile_routes(devapi.ROUTES, public=api.PUBLIC_ROUTES)
    default = devapi.Gateway.__dataclass_fields__["routes"].default_factory()
    # THEN it serves every route the stack declares, the open ones (health) without the authorizer
    assert [(r.key, r.public) for r in default] == [(r.key, r.public) for r in routes]
    assert {r.key for r in default if r.public} == set(api.PUBLIC_ROUTES) == {"GET /v1/health"}


def test_parity_api_cors_matches_the_stack() -> None:
    # GIVEN the front's default CORS configuration / THEN it grants what API Gateway would
    cors = devapi.CorsConfig()
    assert set(cors.allow_methods) == set(api.CORS_METHODS)
    assert set(cors.allow_headers) == set(api.CORS_HEADERS)
    assert set(cors.expose_headers) == set(api.CORS_EXPOSE_HEADERS)


def test_parity_emulator_reads_queue_and_bucket_from_the_stack() -> None:
    # GIVEN the dev stack's plan / THEN the visibility timeout is the stack's factor, and the
    # emulator keeps no mirror of the bucket's CORS methods or the queue's factor
    plan = emulator.StackPlan.from_graph(emulator.stack_graph("dev"))
    timeout = plan.function_timeout(plan.processor)
    assert plan.visibility_timeout == queues.VISIBILITY_FACTOR * timeout
    assert not hasattr(emulator, "VISIBILITY_FACTOR")
    assert not hasattr(emulator, "BUCKET_CORS_METHODS")
    [cors] = [r for r in plan.graph["resources"] if r["name"] == "media-storage-bucket-cors"]
    assert set(cors["inputs"]["corsRules"][0]["allowedMethods"]) == set(storage.CORS_METHODS)
