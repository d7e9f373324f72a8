"""Content types: the one alias table between what clients declare and what the bytes are.

Browsers, iOS and Android do not agree on names: Safari and iOS declare `image/heic` (and
`image/heic-sequence` for bursts and animations), Android `image/heif`, old IE `image/pjpeg`,
some upload widgets `image/jpg`. Every declared type goes through `canonical()` once, at the API
(so the record, the signed Content-Type and the key's extension use the canonical name), and again
in the processor before it is compared with the sniffed type through `compatible()`.

`image/heic` (HEVC-coded HEIF) and `image/heif` (any HEIF) are one family: a phone that declares
`image/heif` for an HEVC file, or `image/heic` for a generic `mif1` file, is not lying. AVIF is
technically HEIF too, but every client declares it as `image/avif`, and it is decoded by another
library, so it is its own family.
"""

from __future__ import annotations

# Declared (lower-case, no parameters) -> canonical content type.
ALIASES: dict[str, str] = {
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "image/x-png": "image/png",
    "image/heic-sequence": "image/heic",
    "image/heif-sequence": "image/heif",
    "image/x-heic": "image/heic",
    "image/x-heif": "image/heif",
    "image/avif-sequence": "image/avif",
    "image/x-tiff": "image/tiff",
    # Audio and video (`runtime.media.containers.MEDIA_TYPES` says which containers each
    # canonical type may be).
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/mpeg3": "audio/mpeg",
    "audio/x-mpeg": "audio/mpeg",
    "audio/x-mpeg-3": "audio/mpeg",
    "audio/mpg": "audio/mpeg",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "audio/x-aac": "audio/aac",
    "audio/aacp": "audio/aac",
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/x-pn-wav": "audio/wav",
    "audio/x-flac": "audio/flac",
    "audio/opus": "audio/ogg",
    "application/ogg": "audio/ogg",
    "video/x-m4v": "video/mp4",
    "video/mkv": "video/x-matroska",
    "video/x-mkv": "video/x-matroska",
    # Documents (runtime/documents.py).
    "application/x-pdf": "application/pdf",
}
# Canonical types that name the same container family (checked against each other, and an
# allow-list entry for one admits the other's files when that is what was declared).
_FAMILY: dict[str, str] = {"image/heic": "heif", "image/heif": "heif"}


def normalise(value: str) -> str:
    """`Image/JPEG; charset=x` -> `image/jpeg`: parameters never matter for media."""
    return value.split(";", 1)[0].strip().lower()


def canonical(declared: str) -> str:
    """The canonical name of a declared content type (unknown names are returned normalised)."""
    name = normalise(declared)
    return ALIASES.get(name, name)


def compatible(declared: str, real: str) -> bool:
    """Whether a file whose bytes are `real` may have been declared as `declared`."""
    declared = canonical(declared)
    if declared == real:
        return True
    family = _FAMILY.get(declared)
    return family is not None and family == _FAMILY.get(real)
