"""Mutated corpus files (bytes flipped, cut out, inserted) either process or fail with a
PermanentFault code: anything else escaping the image core would be retried as a transient
fault and end on the DLQ instead of `failed`."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mediakit.corpus.hostile import CORPUS
from runtime.errors import PermanentFault
from runtime.imaging import FAULT_CODES, ProcessedImage, process_image
from runtime.settings import KNOWN_TYPES, DerivativeSpec, Settings

SETTINGS = Settings(
    allowed_types=tuple(KNOWN_TYPES),
    derivatives=(DerivativeSpec("t", 48, "jpeg"), DerivativeSpec("p", 32, "png")),
)
# Every image in the corpus small enough to mutate quickly (the 30000 px bomb is header-only).
SEEDS = [f for f in CORPUS if f.real_type and len(f.data) < 70_000]
# Every code the image core can end an upload with (its own table: a new code joins it there).
CODES = FAULT_CODES
mutation = st.tuples(
    st.sampled_from(["flip", "cut", "insert"]),
    st.floats(min_value=0, max_value=1, exclude_max=True),
    st.binary(min_size=1, max_size=24),
)


def _mutate(data: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for op, where, payload in mutations:
        at = int(where * len(out))
        if op == "flip":
            out[at : at + len(payload)] = payload
        elif op == "cut":
            del out[at : at + len(payload) * 4]
        else:
            out[at:at] = payload
    return bytes(out)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(min_value=0), mutations=st.lists(mutation, min_size=1, max_size=6))
def test_process_image_mutated_corpus_completes_or_fails_with_a_code(
    index: int, mutations: list[tuple[str, float, bytes]]
) -> None:
    # GIVEN a corpus file with a few random byte-level mutations
    entry = SEEDS[index % len(SEEDS)]
    data = _mutate(entry.data, mutations)

    # WHEN the image core processes it as the type its original was
    outcome: PermanentFault | ProcessedImage
    try:
        outcome = process_image(data, entry.real_type or "", SETTINGS, include_gps=True)
    except PermanentFault as fault:
        outcome = fault

    # THEN it fails with one of the codes a record may carry, or completes with derivatives
    # within their edges
    if isinstance(outcome, PermanentFault):
        assert outcome.code in CODES
    else:
        assert [d.name for d in outcome.derivatives] == ["t", "p"]
        assert all(max(d.width, d.height) <= 48 for d in outcome.derivatives)
