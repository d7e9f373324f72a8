"""Deterministic sample images for the demo and the tests, and a contact sheet of results.

Every sample is generated (nothing binary is checked in), byte-identical on every run with the
same Pillow, and comes with what the client declares and what the pipeline must answer.

HEIC samples are encoded with pillow-heif (libheif + x265): pi-heif, the decoder the Lambda
bundles, cannot encode. pillow-heif is in the `demo` extra, which `make demo` and `make test`
install; it is imported only here, never by runtime/, and never registered as Pillow's HEIF
plugin (runtime.imaging keeps pi-heif's). AVIF samples use Pillow's own encoder (aom).
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from PIL import Image, ImageDraw, ImageFont
from PIL.TiffImagePlugin import IFDRational

# EXIF written into the camera sample (and read back by the tests).
CAMERA_MAKE = "Mediakit"
CAMERA_MODEL = "Sample Cam 1"
CAMERA_TAKEN = "2024:05:17 14:32:10"
CAMERA_OFFSET = "+02:00"
# Brandenburg Gate, Berlin: 52 deg 30' 58.59" N, 13 deg 22' 39.73" E, 34 m.
CAMERA_GPS = ((52, 30, 58.59), "N", (13, 22, 39.73), "E", 34.0)
# The photo's upright (display) size; it is stored rotated with Orientation=6.
PHOTO_SIZE = (800, 1200)
LARGE_SIZE = (4000, 3000)
BOMB_SIZE = (8000, 8000)  # 64 MP: above the default max_pixels, below Pillow's own guard


@dataclass(frozen=True)
class Sample:
    """A generated file, what the client declares for it, and the outcome the pipeline owes."""

    path: Path
    filename: str
    content_type: str
    expected_status: str
    expected_code: str | None
    description: str


def generate_samples(out_dir: Path) -> list[Sample]:
    """Write every sample into `out_dir` (created if needed) and describe them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    photo = camera_photo_jpeg()
    specs: list[tuple[str, bytes, str, str, str | None, str]] = [
        (
            "phone-photo.heic",
            camera_photo_heic(),
            "image/heic",
            "completed",
            None,
            "HEIC as a phone writes it: irot rotation and EXIF Orientation=6 both, camera EXIF "
            "and GPS (rotated once, portrait)",
        ),
        (
            "camera-photo.avif",
            camera_photo_avif(),
            "image/avif",
            "completed",
            None,
            "AVIF with irot rotation, EXIF Orientation=6 and camera EXIF (rotated once)",
        ),
        (
            "camera-photo.jpg",
            photo,
            "image/jpeg",
            "completed",
            None,
            "JPEG with camera EXIF, GPS and Orientation=6 (derivatives come out portrait)",
        ),
        (
            "transparent.png",
            alpha_png(),
            "image/png",
            "completed",
            None,
            "RGBA PNG with soft transparent edges (alpha kept in png/webp derivatives)",
        ),
        (
            "large-12mp.jpg",
            large_jpeg(),
            "image/jpeg",
            "completed",
            None,
            "12 MP (4000x3000) JPEG, the benchmark image",
        ),
        (
            "truncated.jpg",
            photo[: len(photo) * 3 // 5],
            "image/jpeg",
            "failed",
            "truncated",
            "the camera photo cut off after 60% of its bytes",
        ),
        (
            "not-an-image.jpg",
            NOT_AN_IMAGE_HTML,
            "image/jpeg",
            "failed",
            "not_an_image",
            "an HTML page named .jpg and declared image/jpeg",
        ),
        (
            "png-declared-jpeg.jpg",
            alpha_png(size=(64, 48)),
            "image/jpeg",
            "failed",
            "type_mismatch",
            "a real PNG declared as image/jpeg",
        ),
        (
            "bomb.png",
            bomb_png(),
            "image/png",
            "failed",
            "decompression_bomb",
            f"{BOMB_SIZE[0]}x{BOMB_SIZE[1]} PNG in a few KB, rejected from its header",
        ),
    ]
    samples = []
    for filename, body, declared, status, code, description in specs:
        path = out_dir / filename
        path.write_bytes(body)
        samples.append(Sample(path, filename, declared, status, code, description))
    return samples


# --- individual samples (public so tests can build variants) ----------------------------------

NOT_AN_IMAGE_HTML = (
    b"<!doctype html>\n<html><head><title>not a photo</title></head>\n"
    b"<body><script>alert('uploads are not executed')</script></body></html>\n"
)


def camera_photo_jpeg() -> bytes:
    """An upright portrait scene stored rotated, with Orientation=6, camera EXIF and GPS."""
    # Orientation 6 means "rotate 90 degrees clockwise to display": store it turned the other way.
    stored = camera_scene().transpose(Image.Transpose.ROTATE_90)
    buf = io.BytesIO()
    stored.save(buf, "JPEG", quality=88, exif=camera_exif())
    return buf.getvalue()


def camera_photo_heic(quality: int = 70) -> bytes:
    """The camera scene as a phone stores HEIC: pixels turned, an irot box that turns them back,
    and the same rotation again as EXIF Orientation=6 (which MIAF readers must ignore)."""
    stored = camera_scene().transpose(Image.Transpose.ROTATE_90)
    return heic_bytes(stored, quality=quality, exif=camera_exif(6))


def camera_photo_avif(quality: int = 60) -> bytes:
    """The camera scene as AVIF: irot turns the stored pixels upright, and the EXIF still says
    Orientation=6 (see `avif_bytes`)."""
    stored = camera_scene().transpose(Image.Transpose.ROTATE_90)
    return avif_bytes(stored, quality=quality, exif=camera_exif(6), keep_exif_orientation=True)


def heic_bytes(
    image: Image.Image,
    *,
    quality: int = 80,
    exif: Image.Exif | None = None,
    xmp: bytes | None = None,
) -> bytes:
    """`image` encoded as HEIC by pillow-heif; an EXIF Orientation becomes an irot/imir box and
    stays in the EXIF too (as phones write it)."""
    try:
        import pillow_heif
    except ImportError:  # pragma: no cover - dev dependency
        raise RuntimeError(
            "HEIC samples need pillow-heif (the kit's demo extra: pip install -e '.[demo]')"
        ) from None
    buf = io.BytesIO()
    options: dict[str, object] = {"quality": quality}
    if exif is not None:
        options["exif"] = exif.tobytes()
    if xmp is not None:
        options["xmp"] = xmp
    pillow_heif.from_pillow(image).save(buf, **options)
    return buf.getvalue()


def avif_bytes(
    image: Image.Image,
    *,
    quality: int = 70,
    exif: Image.Exif | None = None,
    keep_exif_orientation: bool = False,
    **options: object,
) -> bytes:
    """`image` encoded as AVIF by Pillow. Pillow moves an EXIF Orientation into irot/imir and
    drops the tag; `keep_exif_orientation` puts it back in the stored EXIF as well (written under
    the unused tag 0x0113, then renamed in place), for the never-rotate-twice cases."""
    if exif is not None and keep_exif_orientation and 0x0112 in exif:
        exif = _copy_exif(exif)
        exif[_HIDDEN_ORIENTATION] = exif[0x0112]
    buf = io.BytesIO()
    save: dict[str, object] = {"quality": quality, "speed": 8, **options}
    if exif is not None:
        save["exif"] = exif
    image.save(buf, "AVIF", **save)
    data = buf.getvalue()
    if keep_exif_orientation:
        data = rename_exif_tag(data, _HIDDEN_ORIENTATION, 0x0112)
    return data


# A tag number no reader knows, used to smuggle an orientation past Pillow's AVIF writer.
_HIDDEN_ORIENTATION = 0x0113


def _copy_exif(exif: Image.Exif) -> Image.Exif:
    copy = Image.Exif()
    copy.load(exif.tobytes())
    return copy


def rename_exif_tag(data: bytes, old: int, new: int) -> bytes:
    """Rename a tag in IFD0 of the EXIF embedded in `data`, in place (same length). The EXIF is
    found by its TIFF header with IFD0 right behind it, as Pillow and libheif write it."""
    headers = (b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08")
    hits = [at for at in (data.find(h) for h in headers) if at >= 0]
    if not hits:
        raise ValueError("no EXIF block found")
    tiff = min(hits)
    order: Literal["little", "big"] = "little" if data[tiff : tiff + 2] == b"II" else "big"
    ifd = tiff + int.from_bytes(data[tiff + 4 : tiff + 8], order)
    count = int.from_bytes(data[ifd : ifd + 2], order)
    out = bytearray(data)
    for i in range(count):
        entry = ifd + 2 + 12 * i
        if int.from_bytes(data[entry : entry + 2], order) == old:
            out[entry : entry + 2] = new.to_bytes(2, order)
            return bytes(out)
    raise ValueError(f"tag 0x{old:04X} not in IFD0")


def camera_scene() -> Image.Image:
    """The camera sample's upright portrait scene: sky, ground, sun top right, an arrow up."""
    upright = Image.new("RGB", PHOTO_SIZE, (135, 190, 235))
    draw = ImageDraw.Draw(upright)
    w, h = PHOTO_SIZE
    draw.rectangle((0, h * 2 // 3, w, h), fill=(70, 140, 60))  # ground at the bottom
    draw.ellipse((w - 260, 60, w - 80, 240), fill=(250, 210, 60))  # sun top right
    # An arrow pointing up: wrong orientation handling is obvious at a glance.
    draw.polygon([(w // 2, 120), (w // 2 - 150, 380), (w // 2 + 150, 380)], fill=(200, 40, 40))
    draw.rectangle((w // 2 - 50, 380, w // 2 + 50, 700), fill=(200, 40, 40))
    draw.text((w // 2, 760), "UP", fill=(255, 255, 255), anchor="mm", font=_font(120))
    return upright


def camera_exif(orientation: int = 6) -> Image.Exif:
    """The camera sample's EXIF block: make, model, time taken (+offset), orientation, GPS."""
    exif = Image.Exif()
    exif[0x010F] = CAMERA_MAKE
    exif[0x0110] = CAMERA_MODEL
    exif[0x0112] = orientation
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = CAMERA_TAKEN
    sub[0x9011] = CAMERA_OFFSET
    lat, lat_ref, lon, lon_ref, alt = CAMERA_GPS
    gps = exif.get_ifd(0x8825)
    gps[0x0000] = b"\x02\x03\x00\x00"
    gps[0x0001] = lat_ref
    gps[0x0002] = tuple(_rational(v) for v in lat)
    gps[0x0003] = lon_ref
    gps[0x0004] = tuple(_rational(v) for v in lon)
    gps[0x0005] = b"\x00"
    gps[0x0006] = _rational(alt)
    return exif


def alpha_png(size: tuple[int, int] = (640, 480)) -> bytes:
    """RGBA: transparent background, an opaque disc and a half-transparent bar across it."""
    w, h = size
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    draw.ellipse((w // 8, h // 8, w * 7 // 8, h * 7 // 8), fill=(30, 120, 220, 255))
    draw.rectangle((0, h * 2 // 5, w, h * 3 // 5), fill=(240, 80, 20, 128))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return buf.getvalue()


def large_jpeg(size: tuple[int, int] = LARGE_SIZE, quality: int = 90) -> bytes:
    """A 12 MP picture: colour gradients, a Mandelbrot set, rings and a little grain.

    Built from Pillow's C generators at low resolution and scaled up, so it takes a fraction of
    a second, yet has edges and texture that make a realistic decode and resize workload.
    """
    w, h = size
    red = Image.linear_gradient("L").rotate(90).resize(size)
    green = Image.radial_gradient("L").resize(size)
    fractal = Image.effect_mandelbrot((w // 4, h // 4), (-2.2, -1.2, 1.0, 1.2), 100)
    blue = fractal.resize(size, Image.Resampling.BICUBIC)
    image = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(image)
    for i in range(40):
        x, y, r = (i * 397) % w, (i * 211) % h, 60 + (i * 37) % 300
        colour = ((i * 53) % 256, (i * 97) % 256, (i * 31) % 256)
        draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=12)
    # Film grain from a seeded generator (Pillow's effect_noise is not seedable): the file is
    # identical on every run and its entropy is closer to a real photo's than flat gradients.
    noise = random.Random(4000).randbytes((w // 2) * (h // 2))
    grain = Image.frombytes("L", (w // 2, h // 2), noise).resize(size, Image.Resampling.BILINEAR)
    image = Image.blend(image, Image.merge("RGB", (grain, grain, grain)), 0.12)
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def bomb_png(size: tuple[int, int] = BOMB_SIZE) -> bytes:
    """A valid 1-bit PNG of `size` pixels: a few KB on disk, width*height bytes once decoded."""
    w, h = size
    row = b"\x00" + b"\x00" * ((w + 7) // 8)  # filter type 0 + packed bits
    header = struct.pack(">IIBBBBB", w, h, 1, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(row * h, 9))
        + png_chunk(b"IEND", b"")
    )


@dataclass(frozen=True)
class SeedFile:
    """A small valid file of one decoder path: what fuzzing and the structure tests start from."""

    name: str
    content_type: str
    data: bytes = field(repr=False)


SEED_SIZE = (48, 32)


def seed_files() -> list[SeedFile]:
    """One small valid file per container feature the image core meets: baseline, progressive,
    restart-marker, EXIF and CMYK JPEG; grey, 16-bit, palette, alpha and animated PNG; still and
    animated GIF; lossy, lossless and animated WebP; TIFF in five compressions; HEIC (plain and
    with irot + EXIF), AVIF (plain, alpha, irot + EXIF) and animated AVIF."""
    rgb = pattern(SEED_SIZE)
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(SEED_SIZE))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    frames = [rgb, rgb.rotate(180), rgb.transpose(Image.Transpose.FLIP_LEFT_RIGHT)]
    animation = {"save_all": True, "append_images": frames[1:], "duration": 80, "loop": 0}
    grey16 = Image.linear_gradient("L").resize(SEED_SIZE).convert("I").point(lambda v: v * 256)
    files = [
        ("baseline.jpg", "image/jpeg", _encoded(rgb, "JPEG", quality=85)),
        ("progressive.jpg", "image/jpeg", _encoded(rgb, "JPEG", progressive=True, quality=85)),
        ("restart.jpg", "image/jpeg", _encoded(rgb, "JPEG", restart_marker_blocks=2)),
        ("exif.jpg", "image/jpeg", _encoded(rgb, "JPEG", exif=camera_exif())),
        ("cmyk.jpg", "image/jpeg", _encoded(rgb.convert("CMYK"), "JPEG")),
        ("grey.png", "image/png", _encoded(rgb.convert("L"), "PNG")),
        ("grey16.png", "image/png", _encoded(grey16.convert("I;16"), "PNG")),
        ("palette.png", "image/png", _encoded(palette, "PNG", transparency=0)),
        ("alpha.png", "image/png", _encoded(rgba, "PNG")),
        ("animated.png", "image/png", _encoded(rgb, "PNG", **animation)),
        ("still.gif", "image/gif", _encoded(palette, "GIF")),
        ("animated.gif", "image/gif", _encoded(rgb, "GIF", **animation)),
        ("lossy.webp", "image/webp", _encoded(rgb, "WEBP", quality=70)),
        ("lossless.webp", "image/webp", _encoded(rgba, "WEBP", lossless=True)),
        ("animated.webp", "image/webp", _encoded(rgb, "WEBP", quality=60, **animation)),
        ("plain.heic", "image/heic", heic_bytes(rgb, quality=60)),
        ("exif.heic", "image/heic", heic_bytes(rgb, quality=60, exif=camera_exif())),
        ("plain.avif", "image/avif", avif_bytes(rgb, quality=60)),
        ("alpha.avif", "image/avif", avif_bytes(rgba, quality=60)),
        (
            "exif.avif",
            "image/avif",
            avif_bytes(rgb, quality=60, exif=camera_exif(), keep_exif_orientation=True),
        ),
        (
            "animated.avif",
            "image/avif",
            avif_bytes(rgb, quality=50, save_all=True, append_images=frames[1:], duration=80),
        ),
    ]
    for compression in ("raw", "tiff_lzw", "tiff_adobe_deflate", "packbits", "jpeg"):
        files.append(
            (f"{compression}.tiff", "image/tiff", _encoded(rgb, "TIFF", compression=compression))
        )
    return [SeedFile(name, content_type, data) for name, content_type, data in files]


def pattern(size: tuple[int, int]) -> Image.Image:
    """Deterministic RGB texture (gradients and a Mandelbrot set): edges and varied entropy data,
    so encoders emit real Huffman codes, 0xFF stuffing and filter types, not flat runs."""
    red = Image.linear_gradient("L").resize(size)
    green = Image.radial_gradient("L").resize(size)
    blue = Image.effect_mandelbrot(size, (-2.2, -1.2, 1.0, 1.2), 60)
    return Image.merge("RGB", (red, green, blue))


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


# --- contact sheet -------------------------------------------------------------------------------

_CELL = 240
_CAPTION = 36
_PAD = 12


def contact_sheet(images: list[tuple[str, bytes]], out: Path, *, columns: int = 4) -> Path:
    """Write a PNG grid of (caption, encoded image) pairs; unreadable images get a placeholder."""
    count = max(1, len(images))
    cols = max(1, min(columns, count))
    rows = (count + cols - 1) // cols
    sheet = Image.new(
        "RGB",
        (_PAD + cols * (_CELL + _PAD), _PAD + rows * (_CELL + _CAPTION + _PAD)),
        (245, 245, 245),
    )
    draw = ImageDraw.Draw(sheet)
    font = _font(13)
    for i, (caption, body) in enumerate(images):
        x = _PAD + (i % cols) * (_CELL + _PAD)
        y = _PAD + (i // cols) * (_CELL + _CAPTION + _PAD)
        sheet.paste(_checkerboard(), (x, y))
        try:
            with Image.open(io.BytesIO(body)) as im:
                width, height = im.size
                im.thumbnail((_CELL, _CELL))
                tile = im.convert("RGBA")
            ox, oy = x + (_CELL - tile.width) // 2, y + (_CELL - tile.height) // 2
            sheet.paste(tile, (ox, oy), tile)
            label = f"{caption}\n{width}x{height}, {_human(len(body))}"
        except (OSError, ValueError, SyntaxError):
            draw.rectangle((x, y, x + _CELL - 1, y + _CELL - 1), outline=(200, 40, 40), width=3)
            label = f"{caption}\nunreadable"
        draw.multiline_text((x, y + _CELL + 4), label, fill=(30, 30, 30), font=font, spacing=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, "PNG")
    return out


def _checkerboard() -> Image.Image:
    # Grey checks behind each tile make transparency visible.
    tile = Image.new("RGB", (_CELL, _CELL), (255, 255, 255))
    draw = ImageDraw.Draw(tile)
    step = 16
    for yy in range(0, _CELL, step):
        for xx in range((yy // step % 2) * step, _CELL, 2 * step):
            draw.rectangle((xx, yy, xx + step - 1, yy + step - 1), fill=(220, 220, 220))
    return tile


def _human(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.1f} KiB"


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    # Pillow bundles a scalable default font when built with FreeType; fall back to the bitmap.
    try:
        return ImageFont.load_default(size=size)
    except (ImportError, OSError, TypeError):
        return ImageFont.load_default()


def _rational(value: float) -> IFDRational:
    return IFDRational(round(value * 100), 100)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    """One PNG chunk: length, type, payload and the CRC over type + payload."""
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)
