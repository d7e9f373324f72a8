"""The emulator mirrors a few values of the stack (it cannot import Pulumi cheaply): keep them
equal, so what runs locally is what gets deployed."""

from __future__ import annotations

import pytest

from mediakit import devapi, emulator

api = pytest.importorskip("stacks.api")
queues = pytest.importorskip("stacks.queues")
storage = pytest.importorskip("stacks.storage")


def test_parity_routes_match_the_stack() -> None:
    # GIVEN / WHEN / THEN the front serves exactly the routes the HTTP API declares
    assert set(devapi.ROUTES) == set(api.ROUTES)


def test_parity_api_cors_matches_the_stack() -> None:
    # GIVEN the front's default CORS configuration / THEN it grants what API Gateway would
    cors = devapi.CorsConfig()
    assert set(cors.allow_methods) == set(api.CORS_METHODS)
    assert set(cors.allow_headers) == set(api.CORS_HEADERS)


def test_parity_queue_and_bucket_match_the_stack() -> None:
    # GIVEN / WHEN / THEN visibility timeout factor and bucket CORS methods are the stack's
    assert emulator.VISIBILITY_FACTOR == queues.VISIBILITY_FACTOR
    assert set(emulator.BUCKET_CORS_METHODS) == set(storage.CORS_METHODS)
