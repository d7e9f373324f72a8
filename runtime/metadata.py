"""EXIF -> JSON-safe values for the status record: camera make/model, taken_at, orientation, GPS.

Uploads are hostile input and EXIF is the least checked part of an image: every field is read on
its own and a field that is missing, of the wrong type or nonsensical (zero-denominator rationals,
out-of-range coordinates, "0000:00:00" dates) is skipped. Nothing here raises on bad data, and
fields we do not name (maker notes, thumbnails, user comments) are never read.
"""

from __future__ import annotations

import math
import re
import warnings
from datetime import datetime
from typing import Any, TypedDict

from PIL import Image

# Tag numbers from the EXIF 2.32 / TIFF 6.0 specifications.
TAG_MAKE = 0x010F
TAG_MODEL = 0x0110
TAG_ORIENTATION = 0x0112
TAG_DATETIME = 0x0132
IFD_EXIF = 0x8769
IFD_GPS = 0x8825
TAG_DATETIME_ORIGINAL = 0x9003
TAG_OFFSET_TIME_ORIGINAL = 0x9011
GPS_LATITUDE_REF = 0x0001
GPS_LATITUDE = 0x0002
GPS_LONGITUDE_REF = 0x0003
GPS_LONGITUDE = 0x0004
GPS_ALTITUDE_REF = 0x0005
GPS_ALTITUDE = 0x0006

# Camera names are short; anything longer is garbage or an attempt to bloat the record.
_MAX_TEXT = 64
_OFFSET_RE = re.compile(r"^[+-]\d{2}:\d{2}$")


class GpsInfo(TypedDict, total=False):
    lat: float
    lon: float
    alt: float


class ExifInfo(TypedDict, total=False):
    """JSON-safe EXIF summary; absent or unreadable fields are omitted."""

    make: str
    model: str
    taken_at: str
    orientation: int
    gps: GpsInfo


def read_exif(image: Image.Image, *, include_gps: bool) -> ExifInfo:
    """Summarise the EXIF of an opened image; GPS only when `include_gps`. Never raises."""
    # Pillow reports corrupt EXIF as UserWarnings; the summary already skips what it cannot
    # read, so keep hostile uploads from filling the logs.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            exif = image.getexif()
        except Exception:
            # Pillow parses EXIF lazily and a corrupt block can fail in many ways: no EXIF then.
            return {}
        return summarise(exif, include_gps=include_gps)


def summarise(exif: Image.Exif, *, include_gps: bool) -> ExifInfo:
    """Build the JSON-safe summary from a parsed EXIF block. Never raises."""
    out: ExifInfo = {}
    make = _text(_get(exif, TAG_MAKE))
    if make:
        out["make"] = make
    model = _text(_get(exif, TAG_MODEL))
    if model:
        out["model"] = model
    orientation = orientation_of(exif)
    if orientation is not None:
        out["orientation"] = orientation
    sub = _ifd(exif, IFD_EXIF)
    taken_at = _timestamp(
        _get(sub, TAG_DATETIME_ORIGINAL), _text(_get(sub, TAG_OFFSET_TIME_ORIGINAL))
    ) or _timestamp(_get(exif, TAG_DATETIME), None)
    if taken_at:
        out["taken_at"] = taken_at
    if include_gps:
        gps = _gps(_ifd(exif, IFD_GPS))
        if gps:
            out["gps"] = gps
    return out


def orientation_of(exif: Image.Exif) -> int | None:
    """The EXIF orientation (1..8), or None when absent or invalid."""
    value = _get(exif, TAG_ORIENTATION)
    if isinstance(value, bytes | tuple) and len(value) == 1:
        value = value[0]
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 8:
        return value
    return None


# --- field readers: each returns None for anything it does not understand -----------------------


def _get(mapping: Any, tag: int) -> Any:
    try:
        return mapping.get(tag)
    except Exception:
        return None


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        ifd = exif.get_ifd(tag)
    except Exception:
        return {}
    return ifd if isinstance(ifd, dict) else {}


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    # EXIF ASCII fields are NUL-terminated and often space-padded; drop control characters too.
    cleaned = "".join(ch for ch in value.split("\x00", 1)[0] if ch.isprintable()).strip()
    if not cleaned or len(cleaned) > _MAX_TEXT:
        return None
    return cleaned


def _timestamp(value: Any, offset: str | None) -> str | None:
    text = _text(value)
    if text is None:
        return None
    try:
        parsed = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    iso = parsed.isoformat()
    if offset and _OFFSET_RE.match(offset):
        iso += offset
    return iso


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        # IFDRational with a zero denominator converts to nan; a string or tuple raises.
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _degrees(value: Any, ref: Any, negative: str, limit: float) -> float | None:
    if not isinstance(value, tuple) or not 1 <= len(value) <= 3:
        return None
    degrees = 0.0
    for i, raw in enumerate(value):
        part = _number(raw)
        if part is None or part < 0:
            return None
        degrees += part / 60.0**i
    if degrees > limit:
        return None
    ref_text = _text(ref)
    if ref_text is not None and ref_text.upper().startswith(negative):
        degrees = -degrees
    return round(degrees, 7)


def _gps(ifd: dict[int, Any]) -> GpsInfo | None:
    lat = _degrees(ifd.get(GPS_LATITUDE), ifd.get(GPS_LATITUDE_REF), "S", 90.0)
    lon = _degrees(ifd.get(GPS_LONGITUDE), ifd.get(GPS_LONGITUDE_REF), "W", 180.0)
    if lat is None or lon is None:
        return None
    gps: GpsInfo = {"lat": lat, "lon": lon}
    alt = _number(ifd.get(GPS_ALTITUDE))
    if alt is not None and abs(alt) < 100_000:
        ref = ifd.get(GPS_ALTITUDE_REF)
        # AltitudeRef is BYTE: 1 means below sea level; Pillow hands it over as int or bytes.
        below = ref in (1, b"\x01")
        gps["alt"] = round(-alt if below else alt, 3)
    return gps
