"""Derivatives: orientation, metadata stripping, alpha, sizes, pixel formats, determinism."""

from __future__ import annotations

import io
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st
from PIL import Image, ImageCms

from mediakit.corpus.samples import camera_exif
from runtime import imaging
from runtime.imaging import ProcessedImage, process_image
from runtime.settings import DerivativeSpec, Settings

Encode = Callable[..., bytes]
Reopen = Callable[[bytes], Image.Image]

ALL_FORMATS = (
    DerivativeSpec("as-jpeg", 64, "jpeg", 85),
    DerivativeSpec("as-png", 64, "png"),
    DerivativeSpec("as-webp", 64, "webp", 90),
)


def _run(data: bytes, declared: str, settings: Settings, **kw: bool) -> ProcessedImage:
    return process_image(data, declared, settings, include_gps=kw.get("include_gps", False))


def _assert_no_metadata(image: Image.Image) -> None:
    assert not image.getexif()
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment"):
        assert key not in image.info, key


def test_orientation_6_swaps_dimensions(
    sample_bytes: Callable[[str], bytes], settings: Settings, reopen: Reopen
) -> None:
    # GIVEN the camera photo: stored 1200x800 (landscape) with Orientation=6
    data = sample_bytes("camera-photo.jpg")

    # WHEN processed
    result = _run(data, "image/jpeg", settings)

    # THEN the original and every derivative are portrait, as displayed
    assert (result.width, result.height) == (800, 1200)
    sizes = {d.name: (d.width, d.height) for d in result.derivatives}
    assert sizes == {"thumb": (213, 320), "medium": (800, 1200), "large": (800, 1200)}
    for d in result.derivatives:
        assert reopen(d.body).size == (d.width, d.height)


def test_orientation_6_content_is_upright(
    sample_bytes: Callable[[str], bytes], settings: Settings, reopen: Reopen
) -> None:
    # GIVEN the camera photo, whose upright scene has sky on top and grass at the bottom
    data = sample_bytes("camera-photo.jpg")

    # WHEN processed
    thumb = reopen(_run(data, "image/jpeg", settings).derivatives[0].body).convert("RGB")

    # THEN the top edge is sky blue and the bottom edge grass green
    r, g, b = thumb.getpixel((5, 5))  # type: ignore[misc]
    assert b > r
    assert b > 200
    r, g, b = thumb.getpixel((5, thumb.height - 5))  # type: ignore[misc]
    assert g > r
    assert g > b


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_orientation_applied(orientation: int, encode: Encode, reopen: Reopen) -> None:
    # GIVEN a 40x20 image with a red left half, stored with each EXIF orientation
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 20, 20))
    data = encode(image, "JPEG", quality=95, exif=camera_exif(orientation))
    settings = Settings(derivatives=(DerivativeSpec("same", 64, "png"),))

    # WHEN processed
    out = reopen(_run(data, "image/jpeg", settings).derivatives[0].body)

    # THEN the derivative matches Pillow's reference exif_transpose of the original
    from PIL import ImageOps

    expected = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    assert out.size == expected.size
    assert out.convert("RGB").getpixel((2, 2)) == pytest.approx(expected.getpixel((2, 2)), abs=8)


def test_derivatives_carry_no_metadata(
    sample_bytes: Callable[[str], bytes], reopen: Reopen
) -> None:
    # GIVEN the camera photo (EXIF + GPS) with an sRGB profile, XMP and a comment added
    with Image.open(io.BytesIO(sample_bytes("camera-photo.jpg"))) as photo:
        buf = io.BytesIO()
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
        photo.save(
            buf,
            "JPEG",
            exif=photo.getexif(),
            icc_profile=srgb,
            xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret gps="52.5,13.4"/></x:xmpmeta>',
            comment=b"taken at home",
        )
    settings = Settings(derivatives=ALL_FORMATS)

    # WHEN processed, even with GPS allowed in the record
    result = _run(buf.getvalue(), "image/jpeg", settings, include_gps=True)

    # THEN the record has GPS, and no derivative carries EXIF, GPS, XMP, ICC or comments
    assert "gps" in result.exif
    for d in result.derivatives:
        _assert_no_metadata(reopen(d.body))
        assert b"Exif" not in d.body
        assert b"xmpmeta" not in d.body
        assert b"taken at home" not in d.body


@pytest.mark.parametrize("source_format", ["JPEG", "PNG", "WEBP"])
def test_unresized_unrotated_derivative_carries_no_metadata(
    source_format: str, encode: Encode, reopen: Reopen
) -> None:
    # GIVEN a small upright image (no resize, no rotation needed) full of metadata
    srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    data = encode(
        Image.new("RGB", (40, 30), (20, 140, 60)),
        source_format,
        exif=camera_exif(orientation=1),
        icc_profile=srgb,
        xmp=b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><secret/></x:xmpmeta>',
    )
    declared = imaging.sniff_type(data)
    assert declared is not None
    settings = Settings(derivatives=ALL_FORMATS)

    # WHEN processed: every derivative is the original size, encoded straight from the decode
    result = _run(data, declared, settings, include_gps=True)

    # THEN none of them carries the source's metadata
    assert result.exif["make"] == "Mediakit"
    for d in result.derivatives:
        assert (d.width, d.height) == (40, 30)
        _assert_no_metadata(reopen(d.body))
        assert b"xmpmeta" not in d.body
        assert b"Mediakit" not in d.body


@pytest.mark.parametrize(("spec_format", "fmt"), [("png", "PNG"), ("webp", "WEBP")])
def test_alpha_preserved_for_png_and_webp(
    spec_format: str, fmt: str, sample_bytes: Callable[[str], bytes], reopen: Reopen
) -> None:
    # GIVEN the RGBA sample (transparent corners, opaque disc in the middle)
    settings = Settings(derivatives=(DerivativeSpec("d", 160, spec_format),))

    # WHEN processed into png or webp
    d = _run(sample_bytes("transparent.png"), "image/png", settings).derivatives[0]
    out = reopen(d.body)

    # THEN alpha survives: corners transparent, centre opaque
    assert out.format == fmt
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert out.getpixel((80, 30))[3] == 255  # type: ignore[index]


def test_alpha_flattened_on_white_for_jpeg(
    sample_bytes: Callable[[str], bytes], settings: Settings, reopen: Reopen
) -> None:
    # GIVEN the RGBA sample
    # WHEN processed into the default JPEG derivatives
    d = _run(sample_bytes("transparent.png"), "image/png", settings).derivatives[0]
    out = reopen(d.body)

    # THEN the transparent corners are white, not black
    assert out.mode == "RGB"
    assert min(out.getpixel((0, 0))) >= 250  # type: ignore[arg-type]


def test_transparent_edges_do_not_bleed_hidden_colour(encode: Encode, reopen: Reopen) -> None:
    # GIVEN an opaque white square on fully transparent *black* pixels
    image = Image.new("RGBA", (200, 200), (0, 0, 0, 0))
    image.paste((255, 255, 255, 255), (50, 50, 150, 150))
    settings = Settings(derivatives=(DerivativeSpec("d", 37, "png"),))

    # WHEN downscaled by an odd factor (edges land between pixels)
    out = reopen(_run(encode(image, "PNG"), "image/png", settings).derivatives[0].body)

    # THEN every partly transparent pixel is still white: resampling was premultiplied
    for px in out.get_flattened_data():
        if px[3] > 0:
            assert px[:3] == (255, 255, 255), px


def test_small_image_never_upscaled(settings: Settings, encode: Encode, reopen: Reopen) -> None:
    # GIVEN a 100x60 image and derivatives of 320, 1280 and 2048
    data = encode(Image.new("RGB", (100, 60), (50, 60, 70)), "PNG")

    # WHEN processed
    result = _run(data, "image/png", settings)

    # THEN every derivative keeps 100x60
    for d in result.derivatives:
        assert (d.width, d.height) == (100, 60)
        assert reopen(d.body).size == (100, 60)


def test_large_sample_fits_each_max_edge(
    sample_bytes: Callable[[str], bytes], settings: Settings, reopen: Reopen
) -> None:
    # GIVEN the 12 MP sample
    # WHEN processed with the default specs
    result = _run(sample_bytes("large-12mp.jpg"), "image/jpeg", settings)

    # THEN each derivative is the aspect-preserving fit, a baseline JPEG, in spec order
    assert [(d.name, d.width, d.height) for d in result.derivatives] == [
        ("thumb", 320, 240),
        ("medium", 1280, 960),
        ("large", 2048, 1536),
    ]
    for d in result.derivatives:
        out = reopen(d.body)
        assert (out.format, out.mode, out.size) == ("JPEG", "RGB", (d.width, d.height))
        assert d.content_type == "image/jpeg"


def test_derivatives_are_deterministic(
    sample_bytes: Callable[[str], bytes], reopen: Reopen
) -> None:
    # GIVEN the camera photo and one derivative per output format
    settings = Settings(derivatives=ALL_FORMATS)
    data = sample_bytes("camera-photo.jpg")

    # WHEN processed twice
    first = _run(data, "image/jpeg", settings)
    second = _run(data, "image/jpeg", settings)

    # THEN the bytes are identical
    assert [d.body for d in first.derivatives] == [d.body for d in second.derivatives]


def test_banded_resize_matches_single_threaded(
    sample_bytes: Callable[[str], bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the 12 MP sample decoded once
    with Image.open(io.BytesIO(sample_bytes("large-12mp.jpg"))) as im:
        im.load()
        source = im.copy()

    # WHEN resized in bands across threads and in one piece
    banded = imaging._resize(source, (2048, 1536))
    monkeypatch.setattr(imaging, "_workers", lambda: 1)
    single = imaging._resize(source, (2048, 1536))

    # THEN the pixels are identical
    assert banded.tobytes() == single.tobytes()


def test_cmyk_jpeg_completes_as_rgb(encode: Encode, reopen: Reopen) -> None:
    # GIVEN a CMYK JPEG (pure cyan)
    data = encode(Image.new("CMYK", (120, 80), (255, 0, 0, 0)), "JPEG", quality=95)
    settings = Settings(derivatives=ALL_FORMATS)

    # WHEN processed
    result = _run(data, "image/jpeg", settings)

    # THEN every derivative is RGB and cyan-ish
    for d in result.derivatives:
        out = reopen(d.body).convert("RGB")
        r, g, b = out.getpixel((10, 10))  # type: ignore[misc]
        assert (r < 60, g > 180, b > 180) == (True, True, True), (d.name, (r, g, b))


def test_16bit_greyscale_png_keeps_its_tones(encode: Encode, reopen: Reopen) -> None:
    # GIVEN a 16-bit greyscale PNG at half intensity (32768 of 65535)
    image = Image.new("I;16", (64, 64), 32768)
    data = encode(image, "PNG")
    settings = Settings(derivatives=(DerivativeSpec("d", 32, "png"),))

    # WHEN processed
    out = reopen(_run(data, "image/png", settings).derivatives[0].body)

    # THEN it is mid grey RGB, not clipped to white
    assert out.mode == "RGB"
    assert out.getpixel((5, 5)) == (128, 128, 128)


def test_palette_png_with_transparency(encode: Encode, reopen: Reopen) -> None:
    # GIVEN a palette PNG whose index 0 is transparent, with an opaque red block
    image = Image.new("P", (64, 64), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0, 0, 0] * 254)
    image.paste(1, (16, 16, 48, 48))
    data = encode(image, "PNG", transparency=0)
    settings = Settings(derivatives=(DerivativeSpec("d", 32, "png"),))

    # WHEN processed
    out = reopen(_run(data, "image/png", settings).derivatives[0].body)

    # THEN transparency and colour survive
    assert out.mode == "RGBA"
    assert out.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert out.getpixel((16, 16)) == (255, 0, 0, 255)


def test_animated_gif_first_frame(every_type_settings: Settings, reopen: Reopen) -> None:
    # GIVEN a three-frame GIF: red, green, blue
    frames = [Image.new("RGB", (40, 30), c) for c in ((255, 0, 0), (0, 255, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)

    # WHEN processed with GIF allowed
    result = _run(buf.getvalue(), "image/gif", every_type_settings)

    # THEN it completes, and derivatives show the first (red) frame, unanimated
    assert result.format == "gif"
    for d in result.derivatives:
        out = reopen(d.body)
        assert getattr(out, "n_frames", 1) == 1
        r, g, b = out.convert("RGB").getpixel((5, 5))  # type: ignore[misc]
        assert r > 200
        assert g < 60
        assert b < 60


@pytest.mark.parametrize(
    ("mode", "fmt", "declared"),
    [
        ("LA", "PNG", "image/png"),
        ("L", "JPEG", "image/jpeg"),
        ("1", "TIFF", "image/tiff"),
        ("RGBA", "WEBP", "image/webp"),
        ("RGB", "TIFF", "image/tiff"),
        ("CMYK", "TIFF", "image/tiff"),
    ],
)
def test_pixel_formats_complete(
    mode: str,
    fmt: str,
    declared: str,
    every_type_settings: Settings,
    encode: Encode,
    reopen: Reopen,
) -> None:
    # GIVEN an image in a less common mode and container
    data = encode(Image.new(mode, (90, 70)), fmt)

    # WHEN processed
    result = _run(data, declared, every_type_settings)

    # THEN each derivative is valid RGB or RGBA within its edge
    for d in result.derivatives:
        out = reopen(d.body)
        assert out.mode in ("RGB", "RGBA")
        assert max(out.size) <= 64


def test_non_srgb_profile_converted_then_dropped(
    swapped_rgb_profile: bytes, encode: Encode, reopen: Reopen
) -> None:
    # GIVEN pure red pixels tagged with a profile whose red primary is sRGB's green
    data = encode(Image.new("RGB", (40, 40), (255, 0, 0)), "PNG", icc_profile=swapped_rgb_profile)
    settings = Settings(derivatives=(DerivativeSpec("d", 32, "png"),))

    # WHEN processed
    out = reopen(_run(data, "image/png", settings).derivatives[0].body)

    # THEN the colour was converted to sRGB (green) and the profile is not embedded
    r, g, b = out.getpixel((3, 3))  # type: ignore[misc]
    assert g > 200
    assert r < 80
    assert b < 80
    assert "icc_profile" not in out.info


@pytest.mark.parametrize("profile", ["sRGB", "LAB"])
def test_srgb_or_mismatched_profile_leaves_pixels_alone(
    profile: str, encode: Encode, reopen: Reopen
) -> None:
    # GIVEN pure red tagged as sRGB, or with a Lab profile that does not fit RGB pixels
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile(profile)).tobytes()  # type: ignore[arg-type]
    data = encode(Image.new("RGB", (40, 40), (255, 0, 0)), "PNG", icc_profile=icc)
    settings = Settings(derivatives=(DerivativeSpec("d", 32, "png"),))

    # WHEN processed
    out = reopen(_run(data, "image/png", settings).derivatives[0].body)

    # THEN the pixels pass through untouched and the profile is dropped
    assert out.getpixel((3, 3)) == (255, 0, 0)
    assert "icc_profile" not in out.info


@hyp_settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    mode=st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]),
    width=st.integers(1, 300),
    height=st.integers(1, 300),
    max_edge=st.integers(16, 200),
    out_format=st.sampled_from(["jpeg", "png", "webp"]),
    container=st.sampled_from(["PNG", "TIFF", "WEBP", "JPEG", "GIF"]),
    shade=st.integers(0, 255),
)
def test_property_random_images_fit_and_decode(
    mode: str,
    width: int,
    height: int,
    max_edge: int,
    out_format: str,
    container: str,
    shade: int,
    every_type_settings: Settings,
) -> None:
    # GIVEN a random small image in any mode, saved in any container that accepts the mode
    image = Image.new(mode, (width, height), shade if mode not in ("1",) else shade % 2)
    # Not every container takes every mode: fall back to RGBA, then RGB, as a camera app would.
    for candidate in (image, image.convert("RGBA"), image.convert("RGB")):
        buf = io.BytesIO()
        try:
            candidate.save(buf, container)
            break
        except (OSError, ValueError, KeyError):
            continue
    settings = Settings(
        allowed_types=every_type_settings.allowed_types,
        derivatives=(DerivativeSpec("d", max_edge, out_format, 80),),
    )
    declared = imaging.sniff_type(buf.getvalue())
    assert declared is not None

    # WHEN processed
    result = _run(buf.getvalue(), declared, settings)

    # THEN the derivative fits max_edge, is never upscaled and decodes as what it claims
    (d,) = result.derivatives
    assert max(d.width, d.height) <= max_edge
    assert d.width <= width
    assert d.height <= height
    out = Image.open(io.BytesIO(d.body))
    out.load()
    assert out.size == (d.width, d.height)
    assert out.format == {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP"}[out_format]
    assert out.mode in ("RGB", "RGBA")
