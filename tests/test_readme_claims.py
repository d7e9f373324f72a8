"""Sentences of the README checked against what the code does (issue 14): which body an unknown
route gets, that the dev API answers CORS preflights, and that the requirements the README
states for its commands include what its curl flow checks for."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediakit.client import request
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from runtime.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(heading: str) -> str:
    """The README's text from `heading` to the next heading of any level."""
    start = README.index(f"\n{heading}\n")
    following = re.search(r"\n#{2,4} ", README[start + len(heading) + 2 :])
    end = start + len(heading) + 2 + following.start() if following else len(README)
    return README[start:end]


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    with Emulator(Settings()) as env:
        yield env


@pytest.mark.parametrize(("method", "path"), [("GET", "/v1/nope"), ("DELETE", "/v1/usage")])
def test_a_route_the_api_lacks_gets_the_body_the_readme_says(
    dev: DevEnv, method: str, path: str
) -> None:
    # GIVEN a path, and a method on a known path, that the API does not have
    token = mint_token(dev, "acme")
    # WHEN requested
    resp = request(method, dev.api_url + path, headers={"authorization": f"Bearer {token}"})
    # THEN API Gateway's own 404 answers, which is what the README's errors paragraph says
    assert (resp.status, json.loads(resp.body)) == (404, {"message": "Not Found"})
    errors = re.sub(r"\s+", " ", _section("## The HTTP API"))
    assert (
        'a method or path the API does not have gets API Gateway\'s own `{"message":"Not Found"}`'
        in errors
    )
    assert "`route_not_found` for" not in README


def test_the_dev_api_answers_preflights_as_the_readme_says(dev: DevEnv) -> None:
    # GIVEN the emulator's own page origin (always allowed) WHEN a browser's preflight arrives
    resp = request(
        "OPTIONS",
        f"{dev.api_url}/v1/uploads",
        headers={
            "origin": dev.api_url,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization,content-type",
        },
    )
    # THEN the API stand-in grants it, and the README never says CORS is not emulated
    assert resp.status == 204
    assert resp.headers["access-control-allow-origin"] == dev.api_url
    assert "POST" in resp.headers["access-control-allow-methods"]
    assert "CORS is enforced by the API stand-in" in re.sub(r"\s+", " ", README)
    assert not re.search(r"CORS (is|are) not emulated", README)


def test_the_stated_requirements_include_what_the_curl_flow_checks_for() -> None:
    # GIVEN the tools the README's curl flow checks for WHEN the requirements paragraph of
    # "The two commands" is read THEN it names each (no "nothing else" beside Python and make)
    flow = _section("### Upload with curl")
    checked = set(re.findall(r"command -v (\w+)", flow))
    assert "jq" in checked
    assert "curl >= 7.76" in flow
    requirements = re.sub(r"\s+", " ", _section("## The two commands"))
    for tool in checked - {"mediakit"}:
        assert f"`{tool}`" in requirements, tool
    assert "curl >= 7.76" in requirements
    assert "nothing else" not in requirements
