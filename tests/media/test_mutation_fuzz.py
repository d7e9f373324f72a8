"""Seeded mutations of every sample container: each mutant is described or refused with one of
the package's codes. Nothing else escapes (no bare FFmpeg exception, no crash).

The mutants run in one forked child so a decoder crash fails this test with the seed that
caused it instead of taking the test run down.
"""

from __future__ import annotations

import io
import os
import pickle
import random

import pytest

from mediakit.corpus import media
from runtime.errors import MediakitError
from runtime.media.faults import FAULT_CODES
from runtime.media.poster import poster
from runtime.media.waveform import waveform

MUTANTS_PER_SAMPLE = 20
LONG_MUTANTS_PER_SAMPLE = 1000
SEED = 20261201


def _mutate(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        at = rng.randrange(len(out))
        if kind == 0:  # bit flips
            out[at] ^= 1 << rng.randrange(8)
        elif kind == 1:  # a run of random bytes
            out[at : at + 8] = rng.randbytes(8)
        elif kind == 2:  # cut
            del out[at:]
        elif kind == 3:  # insertion
            out[at:at] = rng.randbytes(rng.randint(1, 64))
        else:  # a 32-bit length field made huge or zero
            out[at : at + 4] = rng.choice([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff"])
        if not out:
            out = bytearray(b"\x00")
    return bytes(out)


def _run_all(per_sample: int) -> list[tuple[str, int, str]]:
    escapes: list[tuple[str, int, str]] = []
    for index, entry in enumerate(media.SAMPLES):
        rng = random.Random(SEED + index)
        for case in range(per_sample):
            mutant = _mutate(entry.data, rng)
            derive = poster if entry.kind == "video" else waveform
            try:
                derive(io.BytesIO(mutant), entry.declared_type)
            except MediakitError as exc:
                if exc.code not in FAULT_CODES:
                    escapes.append((entry.name, case, f"code {exc.code}"))
            except Exception as exc:
                escapes.append((entry.name, case, f"{type(exc).__name__}: {exc}"[:200]))
    return escapes


def test_every_mutant_ends_described_or_with_a_code() -> None:
    _in_child(MUTANTS_PER_SAMPLE)


@pytest.mark.media_long
def test_every_mutant_of_the_long_run_ends_described_or_with_a_code() -> None:
    _in_child(LONG_MUTANTS_PER_SAMPLE)


def _in_child(per_sample: int) -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        code = 0
        try:
            os.write(write, pickle.dumps(_run_all(per_sample)))
        except BaseException:
            code = 70
        finally:
            os._exit(code)
    os.close(write)
    raw = b""
    while chunk := os.read(read, 1 << 16):
        raw += chunk
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status), f"a mutant crashed the decoder (status {status})"
    assert os.WEXITSTATUS(status) == 0
    assert pickle.loads(raw) == []  # noqa: S301 - our own child's bytes
