"""The pure image core of the processor: sniff, validate, guard, decode once, render derivatives.

`process_image` is the only entry point the handler needs. Everything here is deterministic
(same bytes and settings -> same derivative bytes) and free of AWS.

Decisions worth knowing:
- The type is sniffed from magic bytes before Pillow sees the data, and Pillow is then restricted
  to that one format, so a file can never be decoded by a plugin nobody meant to expose.
- Pixel count is checked from the header before any pixel is decoded. Pillow's own guard
  (`Image.MAX_IMAGE_PIXELS`) stays armed on top, with its warning escalated to the same fault.
- Decode cost is bounded structurally before Pillow parses anything (`runtime.structure`): JPEG
  scans, metadata segments and bytes, frames x area of animations.
- Every exception raised while handling the upload's bytes is a PermanentFault: a decoder that
  chokes on hostile input (AssertionError, TypeError, ...) is `corrupt_image`, never a retry; a
  failed allocation or thread start is `processing_limit` (the budget, not the file).
- Colour: derivatives are sRGB without an embedded profile. Sources with a non-sRGB ICC profile
  (Display P3 phones, Adobe RGB, CMYK print files) are converted to sRGB with LittleCMS, after
  resizing so the transform runs on few pixels; the profile itself is never copied.
- Derivatives carry no metadata at all: no EXIF (so no GPS), no XMP, no ICC, no comments.
- HEIC/HEIF decode through pi-heif (libheif + libde265, decode-only, LGPL), AVIF through Pillow's
  own plugin (libavif + dav1d; aom encodes AVIF derivatives). Both containers carry their own
  rotation (irot/imir), which is the only orientation that counts for them (MIAF): libheif applies
  it while decoding and pi-heif resets the EXIF Orientation to 1; Pillow's AVIF plugin reports it
  as the EXIF Orientation (replacing whatever the EXIF said) and leaves the pixels as stored, so
  the one transpose below applies it. Either way a file is rotated exactly once.
- Sequences (animated AVIF, HEIF image sequences): the first frame (AVIF) or the primary still
  image (HEIF) only, like GIF and WebP, within the animation budget; a HEIF sequence with no
  still image is refused (`unsupported_type`, runtime.structure).
- Speed: one decode (a JPEG DCT-scaled by simplejpeg to the smallest eighth, 1/8 to 8/8, that
  stays at least the largest derivative; Pillow's draft() has only 1/2, 1/4, 1/8), largest
  derivative first and each smaller one from the previous result, box reduce + bicubic split
  across cores, rotation applied to the small results. bench/thumbnails.py compares this with
  pyvips.
"""

from __future__ import annotations

import errno
import hashlib
import io
import os
import struct
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

# simplejpeg brings numpy, whose OpenBLAS would start a thread per CPU at import for linear
# algebra nothing here does: one is enough (and fewer threads exist when the sandbox forks).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import pi_heif
import simplejpeg
from PIL import Image, ImageFile

from runtime import mediatypes, metadata, structure
from runtime.errors import MediakitError, PermanentFault
from runtime.metadata import ExifInfo

if TYPE_CHECKING:
    from PIL import ImageCms

    from runtime.settings import DerivativeSpec, Settings

# Failure codes (stable: they end up in status records and events).
EMPTY_FILE = "empty_file"
NOT_AN_IMAGE = "not_an_image"
UNSUPPORTED_TYPE = "unsupported_type"
TYPE_MISMATCH = "type_mismatch"
DECOMPRESSION_BOMB = "decompression_bomb"
TRUNCATED = structure.TRUNCATED
CORRUPT_IMAGE = structure.CORRUPT_IMAGE
PROCESSING_LIMIT = "processing_limit"
TOO_MANY_SCANS = structure.TOO_MANY_SCANS
TOO_MANY_SEGMENTS = structure.TOO_MANY_SEGMENTS
METADATA_TOO_LARGE = structure.METADATA_TOO_LARGE
ANIMATION_TOO_LARGE = structure.ANIMATION_TOO_LARGE
# Every code process_image can fail with.
FAULT_CODES = frozenset(
    {
        EMPTY_FILE,
        NOT_AN_IMAGE,
        UNSUPPORTED_TYPE,
        TYPE_MISMATCH,
        DECOMPRESSION_BOMB,
        TRUNCATED,
        CORRUPT_IMAGE,
        PROCESSING_LIMIT,
        TOO_MANY_SCANS,
        TOO_MANY_SEGMENTS,
        METADATA_TOO_LARGE,
        ANIMATION_TOO_LARGE,
    }
)

# Sniffed content type -> Pillow format name (also the only plugin allowed to open it).
PILLOW_FORMATS: dict[str, str] = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/tiff": "TIFF",
    "image/heic": "HEIF",
    "image/heif": "HEIF",
    "image/avif": "AVIF",
}
OUTPUT_TYPES: dict[str, str] = {
    "jpeg": "image/jpeg",
    "webp": "image/webp",
    "png": "image/png",
    "avif": "image/avif",
}
# ISOBMFF `ftyp` brands (major or compatible) -> the image type they announce, most specific
# first: an AVIF also lists mif1/miaf, a HEIC lists mif1 next to heic.
_AVIF_BRANDS = frozenset({b"avif", b"avis", b"avio"})
_HEVC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
_HEIF_BRANDS = frozenset({b"mif1", b"msf1", b"mif2"})
# A real ftyp lists a handful of brands; past this it is not a file we know.
_MAX_FTYP_BYTES = 1024
# Decoders that size (and orient) the image themselves: the header's size is a claim until the
# pixels are decoded.
_SELF_SIZING = frozenset({"HEIF", "AVIF"})

# Image.transpose operation that undoes each EXIF orientation (same table as ImageOps).
_TRANSPOSE: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_WHITE = (255, 255, 255)
# Exceptions Pillow raises from a decoder that runs out of (or chokes on) data.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)
# Exception messages go into status records: enough to diagnose, never a dump of the upload.
_MAX_MESSAGE = 200
# Below this many output pixels a resize is too quick to be worth splitting across threads.
_PARALLEL_MIN_PIXELS = 256 * 256
# Pillow's own thumbnail() recipe: a box reduce() by whole factors while the image stays at
# least 2x the target, then bicubic. Bicubic rather than Lanczos because Pillow's resampler has
# no SIMD and Lanczos' wider kernel costs ~50% more for a difference invisible at these ratios.
_RESAMPLE = Image.Resampling.BICUBIC
_REDUCING_GAP = 2.0


@dataclass(frozen=True)
class RenderedDerivative:
    """One encoded derivative, ready to be written under `derivatives/`."""

    name: str
    format: str
    content_type: str
    width: int
    height: int
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class ProcessedImage:
    """What the processor learned about an original, and its derivatives.

    `width`/`height` are as displayed, i.e. after the EXIF orientation is applied.
    """

    width: int
    height: int
    format: str
    content_type: str
    bytes: int
    sha256: str
    exif: ExifInfo
    derivatives: list[RenderedDerivative]


def sniff_type(data: bytes) -> str | None:
    """The image content type announced by the magic bytes, or None if not an image we know."""
    if data[:3] == b"\xff\xd8\xff":
        return "image/jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "image/png"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff"
    return _sniff_isobmff(data)


def _sniff_isobmff(data: bytes) -> str | None:
    """HEIC, HEIF or AVIF from the brands of a leading `ftyp` box (other ISOBMFF files, say an
    MP4 video, are not images)."""
    if data[4:8] != b"ftyp":
        return None
    size = int.from_bytes(data[:4], "big")
    if not 16 <= size <= min(len(data), _MAX_FTYP_BYTES) or size % 4:
        return None
    brands = {data[8:12]} | {data[i : i + 4] for i in range(16, size, 4)}
    if brands & _AVIF_BRANDS:
        return "image/avif"
    if brands & _HEVC_BRANDS:
        return "image/heic"
    if brands & _HEIF_BRANDS:
        return "image/heif"
    return None


def process_image(
    data: bytes, declared_type: str, settings: Settings, *, include_gps: bool
) -> ProcessedImage:
    """Validate an upload and render every derivative in `settings.derivatives`.

    Raises PermanentFault with one of FAULT_CODES when the upload can never be processed.
    """
    try:
        return _process(data, declared_type, settings, include_gps=include_gps)
    except MediakitError:
        # Our own faults already carry their code (and a transient one must stay transient).
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PermanentFault(str(exc), code=DECOMPRESSION_BOMB) from None
    except MemoryError:
        raise PermanentFault(
            "the image needs more memory than the processing budget", code=PROCESSING_LIMIT
        ) from None
    except Exception as exc:
        if _is_resource_limit(exc):
            raise PermanentFault(
                f"processing ran out of resources: {_describe(exc)}", code=PROCESSING_LIMIT
            ) from None
        # Whatever a decoder raises on these bytes, the same bytes will raise it again: a retry
        # would only end on the DLQ with the record stuck in `processing`.
        raise PermanentFault(
            f"the image could not be processed: {_describe(exc)}", code=CORRUPT_IMAGE
        ) from None


def _process(
    data: bytes, declared_type: str, settings: Settings, *, include_gps: bool
) -> ProcessedImage:
    content_type = validate(data, declared_type, settings)
    structure.check(data, content_type, structure.Limits.from_settings(settings))
    image = _open(data, content_type, settings.max_pixels)
    try:
        _check_frames(image, settings.max_animation_pixels)
        _check_item_metadata(image, settings.max_metadata_bytes)
        exif = metadata.read_exif(image, include_gps=include_gps)
        # libheif has applied irot/imir already (and pi-heif reset the EXIF Orientation): an
        # orientation left in the EXIF must not rotate the pixels a second time.
        orientation = 1 if image.format == "HEIF" else exif.get("orientation", 1)
        # The header's size: a JPEG decoded DCT-scaled (draft) is smaller once loaded.
        width, height = image.size
        derivatives = render_derivatives(
            image, settings.derivatives, orientation, max_pixels=settings.max_pixels, source=data
        )
        if image.format in _SELF_SIZING:
            # libheif/libavif size the picture from the coded data: the decoded size counts.
            width, height = image.size
        if orientation >= 5:
            width, height = height, width
    finally:
        image.close()
    return ProcessedImage(
        width=width,
        height=height,
        format=content_type.removeprefix("image/"),
        content_type=content_type,
        bytes=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        exif=exif,
        derivatives=derivatives,
    )


def _is_resource_limit(exc: Exception) -> bool:
    """A thread that cannot start or an allocation the OS refused: the budget, not the file."""
    if isinstance(exc, RuntimeError) and "can't start new thread" in str(exc):
        return True
    return isinstance(exc, OSError) and exc.errno == errno.ENOMEM


def _describe(exc: BaseException) -> str:
    """`TypeName: message`, cut to a length fit for a status record."""
    text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def validate(data: bytes, declared_type: str, settings: Settings) -> str:
    """Check the bytes against the declared type and the allow-list; return the sniffed type."""
    if not data:
        raise PermanentFault("the uploaded file is empty", code=EMPTY_FILE)
    sniffed = sniff_type(data)
    if sniffed is None:
        raise PermanentFault("the uploaded file is not an image", code=NOT_AN_IMAGE)
    declared = mediatypes.canonical(declared_type)
    # image/heic and image/heif are one family: an allowed, compatible declaration admits it.
    admitted = sniffed in settings.allowed_types or (
        declared in settings.allowed_types and mediatypes.compatible(declared, sniffed)
    )
    if not admitted:
        raise PermanentFault(f"{sniffed} is not an allowed type", code=UNSUPPORTED_TYPE)
    if not mediatypes.compatible(declared, sniffed):
        raise PermanentFault(
            f"declared {declared or 'no type'} but the file is {sniffed}", code=TYPE_MISMATCH
        )
    return sniffed


def _open(data: bytes, content_type: str, max_pixels: int) -> ImageFile.ImageFile:
    """Parse the header only (no pixels) and enforce the pixel budget."""
    if PILLOW_FORMATS[content_type] == "HEIF":
        _ensure_heif_opener()
    try:
        with warnings.catch_warnings():
            # Corrupt-EXIF and similar UserWarnings are noise (read_exif skips bad fields);
            # the bomb warning is the one that matters, and it becomes an error.
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=[PILLOW_FORMATS[content_type]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PermanentFault(str(exc), code=DECOMPRESSION_BOMB) from None
    except _DECODE_ERRORS as exc:
        if _is_metadata_bomb(exc):
            raise PermanentFault(str(exc), code=DECOMPRESSION_BOMB) from None
        # The magic bytes matched but the header does not parse: cut off or mangled.
        raise PermanentFault("the image header is truncated or corrupt", code=TRUNCATED) from None
    width, height = image.size
    if width <= 0 or height <= 0:
        image.close()
        raise PermanentFault("the image has no pixels", code=TRUNCATED)
    if width * height > max_pixels:
        image.close()
        raise PermanentFault(
            f"{width}x{height} exceeds the limit of {max_pixels} pixels", code=DECOMPRESSION_BOMB
        )
    return image


def _check_frames(image: Image.Image, max_animation_pixels: int) -> None:
    """An animated AVIF's frame count (from its sample table, nothing decoded) against the
    animation budget; GIF, PNG and WebP frames were counted by runtime.structure already."""
    if image.format not in _SELF_SIZING:
        return
    frames = int(getattr(image, "n_frames", 1))
    total = frames * max(image.width * image.height, structure.MIN_FRAME_PIXELS)
    if frames > 1 and total > max_animation_pixels:
        raise PermanentFault(
            f"{frames} frames, {total} pixels in all, exceed the animation limit of "
            f"{max_animation_pixels}",
            code=ANIMATION_TOO_LARGE,
        )


def _check_item_metadata(image: Image.Image, max_metadata_bytes: int) -> None:
    """HEIF/AVIF keep EXIF, XMP and ICC as items in the coded data, which the box walk does not
    count: their bytes, as the decoder handed them over, against the metadata budget before
    anything parses them."""
    if image.format not in _SELF_SIZING:
        return
    carried = sum(
        len(value)
        for key in ("exif", "xmp", "icc_profile")
        if isinstance(value := image.info.get(key), bytes | bytearray)
    )
    if carried > max_metadata_bytes:
        raise PermanentFault(
            f"more than {max_metadata_bytes} bytes of metadata", code=METADATA_TOO_LARGE
        )


def _is_metadata_bomb(exc: BaseException) -> bool:
    """Pillow's caps on compressed PNG text and profile chunks (MAX_TEXT_CHUNK, MAX_TEXT_MEMORY)
    raise a plain ValueError, not its bomb error: a zTXt that inflates to gigabytes is a bomb."""
    message = str(exc).lower()
    return isinstance(exc, ValueError) and ("too large" in message or "too much memory" in message)


def target_size(width: int, height: int, max_edge: int) -> tuple[int, int]:
    """Fit (width, height) within max_edge on the longest side, never enlarging."""
    longest = max(width, height)
    if longest <= max_edge:
        return width, height
    scale = max_edge / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _targets(
    size: tuple[int, int], specs: Sequence[DerivativeSpec], orientation: int
) -> dict[str, tuple[int, int]]:
    """Each spec's output size in stored (un-rotated) pixel space: rotating the small results is
    cheaper than rotating the full-size decode."""
    swap = orientation >= 5
    width, height = size
    targets: dict[str, tuple[int, int]] = {}
    for spec in specs:
        w, h = target_size(*((height, width) if swap else (width, height)), spec.max_edge)
        targets[spec.name] = (h, w) if swap else (w, h)
    return targets


def render_derivatives(
    image: Image.Image,
    specs: Sequence[DerivativeSpec],
    orientation: int = 1,
    *,
    max_pixels: int | None = None,
    source: bytes | None = None,
) -> list[RenderedDerivative]:
    """Decode `image` once and encode one derivative per spec, in the order of `specs` (a
    decoded file, or a plain image such as a video's poster frame).
    `max_pixels` re-checks the decoded size of formats whose header only claims it; `source`,
    the file's bytes, lets a JPEG decode DCT-scaled to any eighth (`_decode_jpeg_scaled`)."""
    targets = _targets(image.size, specs, orientation)
    largest = max(targets.values(), key=lambda s: s[0] * s[1])
    scaled = _decode_jpeg_scaled(image, source, largest) if source is not None else None
    if scaled is not None:
        return _render(scaled, specs, targets, orientation, image.info.get("icc_profile"))
    # MPO is how Pillow names multi-picture JPEGs (many phone cameras): same decoder.
    if image.format in ("JPEG", "MPO"):
        # DCT scaling: libjpeg decodes straight to 1/2, 1/4 or 1/8 size while staying >= largest.
        image.draft(None, largest)
    # Pillow reads this process-wide switch at decode time: re-pin it in case a library loaded
    # since import flipped it, so a truncated file always fails instead of decoding half grey.
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PermanentFault(str(exc), code=DECOMPRESSION_BOMB) from None
    except _DECODE_ERRORS as exc:
        if _is_metadata_bomb(exc):
            raise PermanentFault(str(exc), code=DECOMPRESSION_BOMB) from None
        raise PermanentFault(f"the image could not be decoded: {exc}", code=TRUNCATED) from None
    if image.format in _SELF_SIZING:
        # libheif sizes the picture from its coded stream, which may disagree with the ispe the
        # header claimed: the decoded size is the one to fit and to guard.
        width, height = image.size
        if max_pixels is not None and width * height > max_pixels:
            raise PermanentFault(
                f"{width}x{height} decoded exceeds the limit of {max_pixels} pixels",
                code=DECOMPRESSION_BOMB,
            )
        targets = _targets(image.size, specs, orientation)
    icc = image.info.get("icc_profile")
    try:
        base = _working_copy(image)
    except (ValueError, OSError):
        # Exotic TIFF pixel formats (LAB, HSV, odd bit depths) Pillow can decode but not convert.
        raise PermanentFault(
            f"pixel format {image.mode} is not supported", code=UNSUPPORTED_TYPE
        ) from None

    return _render(base, specs, targets, orientation, icc)


def _render(
    base: Image.Image,
    specs: Sequence[DerivativeSpec],
    targets: dict[str, tuple[int, int]],
    orientation: int,
    icc: bytes | None,
) -> list[RenderedDerivative]:
    # Largest first, each smaller size resampled from the previous result: every step is a
    # modest downscale of an already small image instead of another pass over the original.
    rendered: dict[str, RenderedDerivative] = {}
    source = base
    for spec in sorted(specs, key=lambda s: -targets[s.name][0] * targets[s.name][1]):
        resized = _resize(source, targets[spec.name])
        rendered[spec.name] = _encode(resized, spec, orientation, icc)
        source = resized
    return [rendered[spec.name] for spec in specs]


# Pillow mode of a JPEG -> simplejpeg's output colour space; CMYK/YCCK files keep Pillow's path.
_SCALED_JPEG_MODES = {"RGB": "RGB", "L": "GRAY"}


def _decode_jpeg_scaled(
    image: Image.Image, source: bytes, largest: tuple[int, int]
) -> Image.Image | None:
    """The JPEG's pixels at the smallest of libjpeg-turbo's M/8 DCT scales that stays at least
    `largest`, or None to leave the file to Pillow's decoder.

    Pillow's draft() only knows 1/2, 1/4 and 1/8: a 4000x3000 photo for a 2048 derivative
    decodes whole (12 MP) and then resamples all of it, the largest cost of rendering. At 5/8
    (2500x1875) the IDCT itself does most of the shrinking and the resize has 40% of the pixels
    left; bench/thumbnails.py measures the gain and keeps the SSIM gate.

    Anything simplejpeg (strict: libjpeg warnings are errors) does not decode cleanly goes back
    to Pillow, which decides about the file as it always did (truncated stays `truncated`)."""
    if image.format not in ("JPEG", "MPO") or image.mode not in _SCALED_JPEG_MODES:
        return None
    try:
        # libjpeg's own reading of the frame size first (microseconds, nothing decoded): it
        # allocates for that size, which must be the one the pixel budget was checked against.
        height, width = simplejpeg.decode_jpeg_header(source)[:2]
        if (width, height) != image.size:
            return None
        pixels = simplejpeg.decode_jpeg(
            source,
            _SCALED_JPEG_MODES[image.mode],
            min_width=largest[0],
            min_height=largest[1],
            strict=True,
        )
    except (ValueError, MemoryError):
        return None
    if pixels.ndim == 3 and pixels.shape[2] == 1:
        pixels = pixels[:, :, 0]
    height, width = pixels.shape[:2]
    # Never smaller than the derivatives need (libjpeg picks the scale: check it did), never
    # larger than the header Pillow read and the pixel budget was checked against.
    # A file libjpeg only warns about (strict refuses it) is decoded a second time by Pillow:
    # at most twice the decode, inside the same CPU budget (runtime.sandbox).
    if not (largest[0] <= width <= image.width and largest[1] <= height <= image.height):
        return None
    return Image.fromarray(pixels)


def _working_copy(image: Image.Image) -> Image.Image:
    """Bring any decoded mode to L, RGB, CMYK or premultiplied RGBa for resampling."""
    mode = image.mode
    if mode in ("L", "RGB", "CMYK"):
        return image
    if mode.startswith("I") or mode == "F":
        # 16-bit (and wider) greyscale: a plain convert would clip everything above 255 to white.
        return image.convert("I").point(lambda v: v / 256).convert("L")
    if mode == "RGBA" or image.has_transparency_data:
        # Premultiplied alpha, so transparent pixels' hidden colour does not bleed into edges.
        # Pillow's resize() would premultiply too, but per call and per band; once is enough.
        rgba = image if mode == "RGBA" else image.convert("RGBA")
        return rgba.convert("RGBa")
    return image.convert("RGB")


def _resize(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Downscale: box reduce() by a whole factor, then bicubic, in bands across cores."""
    if source.size == size:
        return source
    out_w, out_h = size
    src_w, src_h = float(source.width), float(source.height)
    # Pillow's reducing_gap recipe, done here once for the whole image so that the bands below
    # all resample the same reduced pixels.
    factor = int(min(src_w / out_w, src_h / out_h) / _REDUCING_GAP)
    if factor > 1:
        source = source.reduce(factor)
        src_w, src_h = src_w / factor, src_h / factor
    workers = _workers()
    if workers == 1 or out_w * out_h < _PARALLEL_MIN_PIXELS:
        return source.resize(size, _RESAMPLE, box=(0.0, 0.0, src_w, src_h))
    # Pillow releases the GIL while resampling and, given a float source box, computes the same
    # kernel weights a whole-image resize would: bands are pixel-identical, just concurrent.
    step = src_h / out_h
    bounds = [out_h * i // workers for i in range(workers + 1)]

    def band(i: int) -> Image.Image:
        top, bottom = bounds[i], bounds[i + 1]
        box = (0.0, top * step, src_w, bottom * step)
        return source.resize((out_w, bottom - top), _RESAMPLE, box=box)

    result = Image.new(source.mode, size, None)  # every pixel is pasted over: skip the fill
    for i, part in enumerate(_pool().map(band, range(workers))):
        result.paste(part, (0, bounds[i]))
    return result


def _encode(
    image: Image.Image, spec: DerivativeSpec, orientation: int, icc: bytes | None
) -> RenderedDerivative:
    if image.mode == "RGBa":
        image = image.convert("RGBA")
    image = _to_srgb(image, icc)
    if image.mode == "RGBA" and spec.format == "jpeg":
        flat = Image.new("RGB", image.size, _WHITE)
        flat.paste(image, mask=image.getchannel("A"))
        image = flat
    if orientation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[orientation])
    # Derived images inherit `info` (EXIF, ICC, XMP, comments) and some encoders copy it from
    # there; start from nothing so only pixels leave the building.
    image.info = {}
    buf = io.BytesIO()
    if spec.format == "jpeg":
        image.save(buf, "JPEG", quality=spec.quality, optimize=False, progressive=False)
    elif spec.format == "webp":
        image.save(buf, "WEBP", quality=spec.quality, method=4)
    elif spec.format == "avif":
        # No exif/xmp/icc_profile arguments and an empty `info`: libavif writes only the pixels
        # and their nclx colour description (sRGB), no metadata item.
        image.save(
            buf, "AVIF", quality=spec.quality, speed=spec.encoder_speed, max_threads=_workers()
        )
    else:
        image.save(buf, "PNG", optimize=False, compress_level=6)
    return RenderedDerivative(
        name=spec.name,
        format=spec.format,
        content_type=OUTPUT_TYPES[spec.format],
        width=image.width,
        height=image.height,
        body=buf.getvalue(),
    )


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB or RGBA in sRGB: apply the source ICC profile when it is not sRGB already."""
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    colour = image.convert("RGB") if alpha is not None else image
    transform = _transform(icc, colour.mode) if icc else None
    if transform is not None:
        from PIL import ImageCms

        try:
            converted = ImageCms.applyTransform(colour, transform)
        except (ImageCms.PyCMSError, OSError, ValueError):
            converted = None
        if converted is not None:
            colour = converted
    if colour.mode != "RGB":
        colour = colour.convert("RGB")
    if alpha is None:
        return colour
    colour.putalpha(alpha)
    return colour


# Pillow mode -> ICC header colour space signature (trailing spaces stripped).
_ICC_SPACES = {"RGB": "RGB", "CMYK": "CMYK", "L": "GRAY"}


@lru_cache(maxsize=8)
def _transform(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached profile -> sRGB transform, or None for sRGB, unusable or mismatched profiles."""
    # Imported here: LittleCMS bindings cost cold-start time and most uploads carry no profile.
    from PIL import ImageCms

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        # A profile for another colour space than the pixels' (say, a Lab profile on RGB
        # data) is a broken file: transforming would garble colours, ignoring it does not.
        if source.profile.xcolor_space.strip() != _ICC_SPACES.get(mode):
            return None
        if "srgb" in ImageCms.getProfileDescription(source).lower().replace(" ", ""):
            return None
        return ImageCms.buildTransform(
            source,
            ImageCms.createProfile("sRGB"),
            mode,
            "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return None


def _workers() -> int:
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4))


def _ensure_heif_opener() -> None:
    """Pillow's HEIF plugin is pi-heif's, without thumbnails, depth maps or auxiliary images
    (never used, each one more thing for libheif to parse). Re-pinned before each open: another
    library loaded since (pillow-heif, in a test process) may have registered its own."""
    if Image.OPEN.get("HEIF", (None,))[0] is not pi_heif.HeifImageFile:
        pi_heif.register_heif_opener(
            thumbnails=False, depth_images=False, aux_images=False, decode_threads=_workers()
        )


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    # Created on first large resize, not at import: keeps cold start and small images cheap.
    return ThreadPoolExecutor(max_workers=_workers(), thread_name_prefix="resize")


# A forked child (runtime.sandbox) inherits the pool object but none of its threads: work
# submitted there would wait for ever. The child starts a pool of its own instead.
os.register_at_fork(after_in_child=_pool.cache_clear)

_ensure_heif_opener()
