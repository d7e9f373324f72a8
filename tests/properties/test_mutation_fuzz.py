"""Seeded, structure-aware mutation fuzzing of the image core over a valid file of every decoder
path (JPEG, PNG, GIF, WebP, TIFF, HEIC, AVIF; `mediakit.corpus.samples.seed_files`).

Each mutant either processes or fails with a PermanentFault carrying one of the record's codes:
any other exception would be treated as transient, retried and dead-lettered with the record
stuck. Every mutant is derived from (seed file, case number) alone, so a failure message names
exactly what to rerun. The default run is small enough for CI; `-m fuzz_long` runs 40x more.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import pytest

from mediakit.corpus.samples import SeedFile, seed_files
from runtime.errors import PermanentFault
from runtime.imaging import FAULT_CODES, process_image
from runtime.settings import KNOWN_TYPES, DerivativeSpec, Settings

SEEDS = seed_files()
# Every type allowed; tight structural limits so duplicated segments reach the refusals too;
# a small pixel budget so no mutant (say, a JPEG whose SOF now claims 7000x7000) decodes for long.
SETTINGS = Settings(
    allowed_types=tuple(KNOWN_TYPES),
    derivatives=(
        DerivativeSpec("t", 32, "jpeg", 80),
        DerivativeSpec("p", 24, "png"),
        DerivativeSpec("w", 16, "webp", 70),
    ),
    max_pixels=2_000_000,
    max_jpeg_scans=32,
    max_metadata_segments=128,
)
CASES = 1000
LONG_CASES = CASES * 40
# Values a length or size field is most likely to be mishandled at.
_EDGE_VALUES = (0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0xFFFFFFFF)


@dataclass(frozen=True)
class Field:
    """A length/size field inside a file: where, how wide, which byte order."""

    at: int
    width: int
    order: Literal["big", "little"]


@dataclass(frozen=True)
class Layout:
    """A file's structural units (segments, chunks, blocks, IFD entries) and length fields;
    `unit_count`: the field that counts the units (a TIFF directory's entry count), if any."""

    units: list[tuple[int, int]]
    fields: list[Field]
    unit_count: Field | None = None


def _jpeg_layout(data: bytes) -> Layout:
    # Every FF xx that could be a segment marker; false hits inside entropy data only make more
    # interesting mutants.
    units, fields = [], []
    for found in re.finditer(rb"\xff[\xc0-\xfe]", data):
        at = found.start()
        if at + 4 <= len(data):
            fields.append(Field(at + 2, 2, "big"))
            end = at + 2 + int.from_bytes(data[at + 2 : at + 4], "big")
            if end <= len(data):
                units.append((at, end))
    return Layout(units, fields)


def _png_layout(data: bytes) -> Layout:
    units, fields = [], [Field(16, 4, "big"), Field(20, 4, "big")]  # IHDR width, height
    pos = 8
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        fields.append(Field(pos, 4, "big"))
        if data[pos + 4 : pos + 8] in (b"acTL", b"fcTL"):
            fields.append(Field(pos + 8, 4, "big"))  # frame count / sequence number
        end = pos + 12 + length
        if end > len(data):
            break
        units.append((pos, end))
        pos = end
    return Layout(units, fields)


def _webp_layout(data: bytes) -> Layout:
    units, fields = [], [Field(4, 4, "little")]  # RIFF size
    pos = 12
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos + 4 : pos + 8], "little")
        fields.append(Field(pos + 4, 4, "little"))
        if data[pos : pos + 4] in (b"VP8X", b"ANMF"):
            fields.append(Field(pos + 12, 3, "little"))  # canvas / frame width - 1
        end = pos + 8 + length + (length & 1)
        if end > len(data):
            break
        units.append((pos, end))
        pos = end
    return Layout(units, fields)


def _gif_layout(data: bytes) -> Layout:
    units, fields = [], [Field(6, 2, "little"), Field(8, 2, "little")]  # screen width, height
    flags = data[10] if len(data) > 10 else 0
    pos = 13 + (3 << ((flags & 7) + 1) if flags & 0x80 else 0)
    while pos < len(data) and data[pos] in (0x21, 0x2C):
        start = pos
        if data[pos] == 0x2C:
            fields.extend(Field(pos + 5 + 2 * i, 2, "little") for i in range(2))  # width, height
            image_flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10 + (3 << ((image_flags & 7) + 1) if image_flags & 0x80 else 0) + 1
        else:
            pos += 2
        while pos < len(data) and data[pos]:
            fields.append(Field(pos, 1, "little"))  # sub-block length
            pos += 1 + data[pos]
        pos += 1
        if pos <= len(data):
            units.append((start, pos))
    return Layout(units, fields)


def _tiff_layout(data: bytes) -> Layout:
    order: Literal["big", "little"] = "little" if data[:2] == b"II" else "big"
    ifd = int.from_bytes(data[4:8], order)
    units, fields = [], [Field(4, 4, order), Field(ifd, 2, order)]
    count = int.from_bytes(data[ifd : ifd + 2], order) if ifd + 2 <= len(data) else 0
    for entry in range(count):
        at = ifd + 2 + 12 * entry
        if at + 12 > len(data):
            break
        units.append((at, at + 12))
        fields.extend((Field(at + 2, 2, order), Field(at + 4, 4, order), Field(at + 8, 4, order)))
    return Layout(units, fields, Field(ifd, 2, order))


# ISOBMFF boxes the layout descends into, with the bytes before their first child.
_ISO_CONTAINERS = {b"meta": 4, b"iprp": 0, b"ipco": 0, b"iinf": 6, b"moov": 0, b"trak": 0,
                   b"mdia": 0, b"minf": 0, b"stbl": 0, b"dinf": 0, b"iref": 4}  # fmt: skip
# Leaf boxes whose payload is mostly counts, offsets and lengths (item locations, properties'
# associations, references, sample tables): each 32-bit word of theirs is a field.
_ISO_TABLES = frozenset({b"iloc", b"ipma", b"pitm", b"stsz", b"stco", b"stsc", b"stts", b"grid"})


def _isobmff_layout(data: bytes) -> Layout:
    units: list[tuple[int, int]] = []
    fields: list[Field] = []

    def walk(pos: int, end: int, depth: int) -> None:
        while pos + 8 <= end and depth < 6:
            size, kind = int.from_bytes(data[pos : pos + 4], "big"), data[pos + 4 : pos + 8]
            fields.append(Field(pos, 4, "big"))
            box_end = pos + size
            if size < 8 or box_end > end:
                return
            units.append((pos, box_end))
            body = pos + 8
            if kind in _ISO_CONTAINERS:
                if kind == b"iinf":
                    fields.append(Field(body + 4, 2, "big"))  # entry count (version 0)
                walk(body + _ISO_CONTAINERS[kind], box_end, depth + 1)
            elif kind == b"ispe":
                fields.extend((Field(body + 4, 4, "big"), Field(body + 8, 4, "big")))
            elif kind in _ISO_TABLES:
                fields.extend(Field(at, 4, "big") for at in range(body, box_end - 3, 4)[:24])
            pos = box_end

    walk(0, len(data), 0)
    return Layout(units, fields)


_LAYOUTS: dict[str, Callable[[bytes], Layout]] = {
    "image/jpeg": _jpeg_layout,
    "image/png": _png_layout,
    "image/webp": _webp_layout,
    "image/gif": _gif_layout,
    "image/tiff": _tiff_layout,
    "image/heic": _isobmff_layout,
    "image/avif": _isobmff_layout,
}


def _flip_bits(data: bytearray, rng: random.Random, layout: Layout) -> None:
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(data))
        data[at] ^= 1 << rng.randrange(8)


def _overwrite(data: bytearray, rng: random.Random, layout: Layout) -> None:
    at = rng.randrange(len(data))
    value = rng.choice([b"\x00", b"\xff", b"\x7f", b"\x80", rng.randbytes(rng.randint(1, 4))])
    data[at : at + len(value)] = value * rng.randint(1, 4)


def _insert(data: bytearray, rng: random.Random, layout: Layout) -> None:
    at = rng.randrange(len(data) + 1)
    data[at:at] = rng.choice([rng.randbytes(rng.randint(1, 32)), b"\xff" * rng.randint(1, 8)])


def _delete(data: bytearray, rng: random.Random, layout: Layout) -> None:
    at = rng.randrange(len(data))
    del data[at : at + rng.randint(1, 64)]


def _truncate(data: bytearray, rng: random.Random, layout: Layout) -> None:
    del data[rng.randint(1, len(data)) :]


def _duplicate_unit(data: bytearray, rng: random.Random, layout: Layout) -> None:
    if not layout.units:
        _insert(data, rng, layout)
        return
    start, end = rng.choice(layout.units)
    # Mostly a copy or two; sometimes a flood, to reach the structural limits.
    copies = rng.choice([1, 1, 2, 3, rng.randint(30, 300)])
    data[end:end] = bytes(data[start:end]) * copies
    _recount(data, layout, copies)


def _remove_unit(data: bytearray, rng: random.Random, layout: Layout) -> None:
    if not layout.units:
        _delete(data, rng, layout)
        return
    start, end = rng.choice(layout.units)
    del data[start:end]
    _recount(data, layout, -1)


def _recount(data: bytearray, layout: Layout, change: int) -> None:
    """Keep a unit count in step, so the mutant gets past the count to what follows."""
    field = layout.unit_count
    if field is None or field.at + field.width > len(data):
        return
    count = int.from_bytes(data[field.at : field.at + field.width], field.order) + change
    data[field.at : field.at + field.width] = (count % (1 << 16)).to_bytes(2, field.order)


def _corrupt_length(data: bytearray, rng: random.Random, layout: Layout) -> None:
    fields = [f for f in layout.fields if f.at + f.width <= len(data)]
    if not fields:
        _flip_bits(data, rng, layout)
        return
    field = rng.choice(fields)
    current = int.from_bytes(data[field.at : field.at + field.width], field.order)
    value = rng.choice(
        [*_EDGE_VALUES, current + 1, current - 1, current * 2, rng.getrandbits(8 * field.width)]
    )
    value %= 1 << (8 * field.width)
    data[field.at : field.at + field.width] = value.to_bytes(field.width, field.order)


_MUTATIONS = (
    _flip_bits,
    _overwrite,
    _insert,
    _delete,
    _truncate,
    _duplicate_unit,
    _remove_unit,
    _corrupt_length,
    _corrupt_length,  # the richest source of crashes: twice the weight
)


def _repair(data: bytearray, content_type: str) -> None:
    """Fix what a decoder checks before anything interesting (PNG CRCs, the RIFF size), so most
    mutants reach the parsers behind the checksum instead of all failing at it."""
    if content_type == "image/png":
        for start, end in _png_layout(bytes(data)).units:
            crc = zlib.crc32(data[start + 4 : end - 4]) & 0xFFFFFFFF
            data[end - 4 : end] = crc.to_bytes(4, "big")
    elif content_type == "image/webp" and len(data) >= 8:
        data[4:8] = (len(data) - 8).to_bytes(4, "little")


def mutant(seed: SeedFile, case: int) -> bytes:
    """The `case`-th mutant of `seed`: one to four mutations (mostly one), usually repaired
    (see `_repair`), the same bytes on every run."""
    rng = random.Random(f"{seed.name}/{case}")
    data = bytearray(seed.data)
    for _ in range(rng.choice([1, 1, 1, 2, 2, 3, 4])):
        if not data:
            break
        rng.choice(_MUTATIONS)(data, rng, _LAYOUTS[seed.content_type](bytes(data)))
    if data and rng.random() < 0.8:
        _repair(data, seed.content_type)
    return bytes(data)


def _fuzz(seed: SeedFile, cases: range) -> Counter[str]:
    """Process every mutant; fail with the ones that raised anything but a PermanentFault."""
    outcomes: Counter[str] = Counter()
    escaped: list[str] = []
    for case in cases:
        data = mutant(seed, case)
        try:
            process_image(data, seed.content_type, SETTINGS, include_gps=True)
        except PermanentFault as fault:
            outcomes[fault.code] += 1
            if fault.code not in FAULT_CODES:
                escaped.append(f"case {case}: unknown code {fault.code!r}")
        except Exception as exc:
            escaped.append(f"case {case}: {type(exc).__name__}: {exc}"[:300])
        else:
            outcomes["completed"] += 1
    assert not escaped, f"{seed.name}: {len(escaped)} mutants escaped:\n" + "\n".join(escaped[:10])
    return outcomes


@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_process_image_mutants_complete_or_fail_permanently(seed: SeedFile) -> None:
    # GIVEN CASES deterministic mutants of a valid file (bit flips, insertions, deletions,
    # truncation, duplicated or removed segments, corrupted length fields)
    # WHEN the image core processes each one as the type its seed is
    outcomes = _fuzz(seed, range(CASES))

    # THEN each completed or failed with a record code (checked in _fuzz), and the mutations
    # were neither all harmless nor all fatal
    assert sum(outcomes.values()) == CASES
    assert 0 < outcomes["completed"] < CASES


@pytest.mark.fuzz_long
@pytest.mark.parametrize("seed", SEEDS, ids=[s.name for s in SEEDS])
def test_process_image_mutants_long_run(seed: SeedFile) -> None:
    # GIVEN 40x more mutants, none of the default run's / WHEN processed
    outcomes = _fuzz(seed, range(CASES, CASES + LONG_CASES))

    # THEN each completed or failed with a record code
    assert sum(outcomes.values()) == LONG_CASES


def test_mutant_is_deterministic_and_mutated() -> None:
    # GIVEN a seed file / WHEN the same case is built twice, and many cases once
    seed = SEEDS[0]
    variants = {mutant(seed, case) for case in range(50)}

    # THEN a case is always the same bytes, and cases differ from the seed and from each other
    assert mutant(seed, 7) == mutant(seed, 7)
    assert seed.data not in variants
    assert len(variants) > 40
