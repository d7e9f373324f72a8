"""Upload ids, tenant sanitising and the key layout."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from runtime.errors import Forbidden, Unauthorized
from runtime.keys import (
    MAX_TENANT_LENGTH,
    derivative_key,
    is_upload_id,
    new_upload_id,
    original_key,
    parse_original_key,
    sanitise_tenant,
)
from runtime.settings import Settings

SETTINGS = Settings()
WHEN = datetime(2026, 11, 21, 4, 31, tzinfo=UTC)
_SAFE_SEGMENT = re.compile(r"(?:[A-Za-z0-9_.@-]|~[0-9A-F]{2})+")


def test_new_upload_id_is_url_safe_unique_and_time_sortable() -> None:
    # GIVEN ids minted at increasing milliseconds
    ids = [new_upload_id(now_ms=1_700_000_000_000 + i) for i in range(50)]
    # THEN each is a 26-char URL-safe id, all distinct, sorted like their timestamps
    assert all(is_upload_id(i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert new_upload_id() != new_upload_id()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("tenant-a", "tenant-a"),
        ("a/b", "a~2Fb"),
        ("../x", "~2E.~2Fx"),
        ("a..b", "a.~2Eb"),
        ("user@example.com", "user@example.com"),
        ("auth0|123", "auth0~7C123"),
        ("a~2Fb", "a~7E2Fb"),
        ("é", "~C3~A9"),
    ],
)
def test_sanitise_tenant_escapes_unsafe_characters(raw: str, expected: str) -> None:
    # GIVEN a claim value WHEN sanitised THEN unsafe characters become ~XX escapes
    assert sanitise_tenant(raw) == expected


def _sanitised_unless_too_long(raw: str) -> str | None:
    """The sanitised tenant, or None when escaping made it longer than the limit (a 4-byte
    character escapes to 12): that refusal is the only one allowed for these inputs."""
    refusal = ""
    try:
        return sanitise_tenant(raw)
    except Forbidden as refused:
        refusal = refused.message
    assert refusal == "the tenant claim is too long"
    assert len(raw.encode("utf-8")) * 3 > MAX_TENANT_LENGTH
    return None


@given(
    st.text(min_size=1, max_size=30).filter(lambda s: s.strip()), st.text(min_size=1, max_size=30)
)
def test_sanitise_tenant_is_injective_and_key_safe(a: str, b: str) -> None:
    # GIVEN any two claim values without control characters
    assume(b.strip() and not any(ord(c) < 32 or ord(c) == 127 for c in a + b))
    # WHEN sanitised (escaping can push a claim over the length limit: refused, not truncated)
    sa, sb = _sanitised_unless_too_long(a), _sanitised_unless_too_long(b)
    assume(sa is not None and sb is not None)
    assert sa is not None
    assert sb is not None
    # THEN results are one safe segment, never '..' or '/', and distinct inputs stay distinct
    assert _SAFE_SEGMENT.fullmatch(sa)
    assert "/" not in sa
    assert ".." not in sa
    assert not sa.startswith(".")
    assert (sa == sb) == (a == b)


@pytest.mark.parametrize("raw", [None, "", "   ", 42])
def test_sanitise_tenant_missing_claim_is_401(raw: object) -> None:
    with pytest.raises(Unauthorized) as caught:
        sanitise_tenant(raw)
    assert caught.value.code == "missing_tenant"


@pytest.mark.parametrize("raw", ["a\x00b", "line\nbreak", "x" * 129, "/" * 50])
def test_sanitise_tenant_hostile_claim_is_403(raw: str) -> None:
    with pytest.raises(Forbidden) as caught:
        sanitise_tenant(raw)
    assert caught.value.code == "invalid_tenant"


def test_original_key_takes_extension_from_declared_type() -> None:
    # GIVEN a PNG declared upload WHEN its key is built THEN the date path and .png are used
    key = original_key(SETTINGS, "t", "01jd0000000000000000000000", "image/png", WHEN)
    assert key == "originals/t/2026/11/21/01jd0000000000000000000000.png"


def test_derivative_key_layout() -> None:
    key = derivative_key(SETTINGS, "t", "01jd0000000000000000000000", "thumb", "webp")
    assert key == "derivatives/t/01jd0000000000000000000000/thumb.webp"


def test_parse_original_key_round_trips_with_custom_prefix() -> None:
    # GIVEN custom prefixes and an escaped tenant
    settings = Settings(originals_prefix="in/", derivatives_prefix="out/")
    tenant = sanitise_tenant("auth0|x+y")
    key = original_key(settings, tenant, new_upload_id(), "image/jpeg", WHEN)
    # WHEN the key is parsed THEN its parts come back
    parsed = parse_original_key(settings, key)
    assert parsed is not None
    assert (parsed.tenant, parsed.extension) == (tenant, "jpg")


@pytest.mark.parametrize(
    "key",
    [
        "originals/t/2026/11/21/01jd0000000000000000000000.jpg.exe",
        "originals/t/2026/11/21/../01jd0000000000000000000000.jpg",
        "originals/a/b/2026/11/21/01jd0000000000000000000000.jpg",
        "derivatives/t/2026/11/21/01jd0000000000000000000000.jpg",
        "originals/t/2026/11/21/01JD0000000000000000000000.jpg",
    ],
)
def test_parse_original_key_rejects_foreign_shapes(key: str) -> None:
    assert parse_original_key(SETTINGS, key) is None
