"""HEIC/HEIF and AVIF: sniffing from ftyp brands, the declared-type alias table, the container
guards, rotation applied exactly once, and AVIF derivatives without metadata."""

from __future__ import annotations

import io
import struct
import subprocess
import sys
from pathlib import Path

import pi_heif
import pytest
from PIL import Image

from mediakit.corpus import hostile
from mediakit.corpus.samples import (
    avif_bytes,
    camera_exif,
    camera_photo_avif,
    camera_photo_heic,
    camera_scene,
    heic_bytes,
    pattern,
    rename_exif_tag,
)
from runtime import imaging, mediatypes, structure
from runtime.errors import PermanentFault, SettingsError, UnsupportedMediaType
from runtime.settings import DEFAULT_AVIF_SPEED, DerivativeSpec, Settings
from runtime.validation import validate_create

ROOT = Path(__file__).resolve().parents[2]
SKY = (135, 190, 235)
SUN = (250, 210, 60)
GROUND = (70, 140, 60)
ONE_SPEC = (DerivativeSpec("view", 200, "png"),)


def _ftyp(major: bytes, *compatible: bytes) -> bytes:
    return hostile.iso_box(b"ftyp", major + b"\x00" * 4 + b"".join(compatible))


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tolerance: int = 40) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel[:3], colour, strict=True))


def _view(data: bytes, declared: str) -> Image.Image:
    """The one PNG derivative of `data`, decoded."""
    settings = Settings(derivatives=ONE_SPEC)
    result = imaging.process_image(data, declared, settings, include_gps=False)
    return Image.open(io.BytesIO(result.derivatives[0].body)).convert("RGB")


def _assert_upright_scene(view: Image.Image) -> None:
    """The camera scene as displayed: portrait, sun top right, ground at the bottom."""
    w, h = view.size
    assert h > w
    assert _near(view.getpixel((w * 3 // 4, h // 8)), SUN)
    assert _near(view.getpixel((w // 10, h // 10)), SKY)
    assert _near(view.getpixel((w // 10, h * 9 // 10)), GROUND)


def _stored_with_exif_orientation_only(fmt: str) -> bytes:
    """The scene stored turned, EXIF Orientation=6 and no irot/imir: the encoders would turn an
    Orientation into irot, so it is written under an unused tag and renamed afterwards."""
    stored = camera_scene().transpose(Image.Transpose.ROTATE_90)
    exif = camera_exif()
    del exif[0x0112]
    exif[0x0113] = 6
    data = heic_bytes(stored, exif=exif) if fmt == "heic" else avif_bytes(stored, exif=exif)
    assert b"irot" not in data
    return rename_exif_tag(data, 0x0113, 0x0112)


# --- sniffing and the alias table -----------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (_ftyp(b"heic", b"mif1", b"heic"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"heic", b"miaf"), "image/heic"),  # iPhone-style: major mif1
        (_ftyp(b"heix", b"mif1"), "image/heic"),
        (_ftyp(b"msf1", b"hevc"), "image/heic"),
        (_ftyp(b"mif1", b"mif1", b"miaf"), "image/heif"),  # generic HEIF (not HEVC)
        (_ftyp(b"msf1", b"msf1", b"iso8"), "image/heif"),
        (_ftyp(b"avif", b"avif", b"mif1", b"miaf"), "image/avif"),
        (_ftyp(b"mif1", b"mif1", b"avif"), "image/avif"),  # AVIF under a generic major brand
        (_ftyp(b"avis", b"avis", b"msf1"), "image/avif"),
        (_ftyp(b"isom", b"isom", b"mp41"), None),  # an MP4 is not an image
        (_ftyp(b"qt  "), None),
    ],
)
def test_sniff_type_reads_ftyp_brands(head: bytes, expected: str | None) -> None:
    assert imaging.sniff_type(head + hostile.iso_box(b"meta", b"\x00" * 4)) == expected


def test_sniff_type_refuses_a_malformed_ftyp() -> None:
    body = _ftyp(b"heic", b"mif1")
    # size not a multiple of 4, larger than the file, absurdly large, or too small
    assert imaging.sniff_type(struct.pack(">I", 23) + body[4:] + b"\x00" * 8) is None
    assert imaging.sniff_type(struct.pack(">I", 4096) + body[4:]) is None
    assert imaging.sniff_type(struct.pack(">I", 12) + body[4:]) is None


def test_canonical_and_compatible_follow_the_alias_table() -> None:
    assert mediatypes.canonical("Image/HEIC-Sequence; foo=bar") == "image/heic"
    assert mediatypes.canonical("image/heif-sequence") == "image/heif"
    assert mediatypes.canonical("image/jpg") == "image/jpeg"
    assert mediatypes.canonical("image/avif") == "image/avif"
    assert mediatypes.compatible("image/heif", "image/heic")
    assert mediatypes.compatible("image/heic-sequence", "image/heif")
    assert not mediatypes.compatible("image/heic", "image/avif")
    assert not mediatypes.compatible("image/avif", "image/heic")
    assert not mediatypes.compatible("image/png", "image/jpeg")
    # every alias points at a type the settings know
    from runtime.settings import KNOWN_TYPES

    assert set(mediatypes.ALIASES.values()) <= set(KNOWN_TYPES)


@pytest.mark.parametrize(
    ("declared", "stored"),
    [
        ("image/heic", "image/heic"),
        ("image/heic-sequence", "image/heic"),
        ("IMAGE/HEIF", "image/heif"),
        ("image/heif-sequence", "image/heif"),
        ("image/avif", "image/avif"),
        ("image/jpg", "image/jpeg"),
    ],
)
def test_create_upload_accepts_browser_aliases_as_their_canonical_type(
    declared: str, stored: str
) -> None:
    # GIVEN the default settings / WHEN a client declares an alias
    body = {"filename": "IMG_0001.HEIC", "content_type": declared, "size": 1000}
    wanted = validate_create(body, Settings())
    # THEN the upload is created under the canonical type (record, signed header, key extension)
    assert wanted.content_type == stored
    assert Settings().extension_for(stored) in ("heic", "heif", "avif", "jpg")


def test_create_upload_refuses_a_disabled_heif_type() -> None:
    settings = Settings(allowed_types=("image/jpeg",))
    body = {"filename": "a.heic", "content_type": "image/heic-sequence", "size": 10}
    with pytest.raises(UnsupportedMediaType):
        validate_create(body, settings)


def test_default_settings_enable_heic_heif_avif_but_not_gif_tiff() -> None:
    allowed = Settings().allowed_types
    assert {"image/heic", "image/heif", "image/avif"} <= set(allowed)
    assert "image/gif" not in allowed
    assert "image/tiff" not in allowed


def test_heif_family_admits_the_other_name_only_when_declared() -> None:
    # GIVEN only image/heif enabled and an HEVC (image/heic) file
    settings = Settings(allowed_types=("image/heif",), derivatives=ONE_SPEC)
    data = hostile.small_heic()
    # WHEN declared as the enabled family member THEN processed
    assert imaging.process_image(data, "image/heif", settings, include_gps=False).format == "heic"
    # WHEN declared as something else THEN the real type is simply not allowed
    with pytest.raises(PermanentFault) as fault:
        imaging.process_image(data, "image/jpeg", settings, include_gps=False)
    assert fault.value.code == imaging.UNSUPPORTED_TYPE


# --- decoding, rotation -----------------------------------------------------------------------


def test_heic_is_decoded_by_pi_heif_even_after_pillow_heif_registers_its_plugin() -> None:
    # GIVEN pillow-heif (the encoder the tests use) registered as Pillow's HEIF plugin
    import pillow_heif

    pillow_heif.register_heif_opener()
    try:
        assert Image.OPEN["HEIF"][0] is not pi_heif.HeifImageFile
        # WHEN the image core opens a HEIC
        imaging.process_image(
            hostile.small_heic(), "image/heic", Settings(derivatives=ONE_SPEC), include_gps=False
        )
        # THEN it re-pinned pi-heif's decoder (the one the Lambda bundles) first
        assert Image.OPEN["HEIF"][0] is pi_heif.HeifImageFile
    finally:
        imaging._ensure_heif_opener()


@pytest.mark.parametrize(
    ("build", "declared"),
    [(camera_photo_heic, "image/heic"), (camera_photo_avif, "image/avif")],
    ids=["heic", "avif"],
)
def test_irot_and_exif_orientation_rotate_once(build: object, declared: str) -> None:
    # GIVEN the scene stored turned, with an irot box AND EXIF Orientation=6 (as phones write)
    data = build()  # type: ignore[operator]
    assert b"irot" in data
    exif = Image.Exif()
    exif.load(data[data.find(b"MM\x00*") :] if b"MM\x00*" in data else data[data.find(b"II*") :])
    assert exif.get(0x0112) == 6
    # WHEN processed
    result = imaging.process_image(data, declared, Settings(derivatives=ONE_SPEC), include_gps=True)
    # THEN the record and the derivative are upright portrait: turned once, not twice
    assert (result.width, result.height) == (800, 1200)
    _assert_upright_scene(Image.open(io.BytesIO(result.derivatives[0].body)).convert("RGB"))
    assert result.exif["make"] == "Mediakit"
    assert "gps" in result.exif


@pytest.mark.parametrize("fmt", ["heic", "avif"])
def test_exif_orientation_without_irot_is_ignored(fmt: str) -> None:
    # GIVEN stored-turned pixels whose only rotation is an EXIF Orientation=6 (MIAF: readers
    # take the container's irot/imir, never the EXIF tag)
    data = _stored_with_exif_orientation_only(fmt)
    # WHEN processed THEN shown as stored: landscape, not rotated by the EXIF
    view = _view(data, f"image/{fmt}")
    assert view.width > view.height


def test_irot_without_exif_rotates() -> None:
    # GIVEN a HEIC whose rotation is an irot box only (EXIF without an Orientation)
    stored = camera_scene().transpose(Image.Transpose.ROTATE_90)
    exif = camera_exif(6)
    data = heic_bytes(stored, exif=exif)
    data = rename_exif_tag(data, 0x0112, 0x0113)  # the EXIF keeps no orientation
    assert b"irot" in data
    # THEN upright
    _assert_upright_scene(_view(data, "image/heic"))


def test_animated_avif_renders_its_first_frame() -> None:
    # GIVEN a three-frame AVIF whose frames differ / WHEN processed
    data = hostile.animated_avif()
    with Image.open(io.BytesIO(data)) as image:
        assert image.n_frames == 3
        image.load()
        first = image.convert("RGB").resize((64, 48))
    view = _view(data, "image/avif").resize((64, 48))
    # THEN the derivative is the first frame
    diff = sum(abs(a - b) for a, b in zip(first.tobytes(), view.tobytes(), strict=True))
    assert diff / (64 * 48 * 3) < 12


def test_animated_avif_counts_against_the_animation_budget() -> None:
    settings = Settings(derivatives=ONE_SPEC, max_animation_pixels=2 * 64 * 64 * 16)
    with pytest.raises(PermanentFault) as fault:
        imaging.process_image(hostile.animated_avif(), "image/avif", settings, include_gps=False)
    assert fault.value.code == imaging.ANIMATION_TOO_LARGE


def test_ispe_bomb_is_refused_before_a_decoder_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a HEIC whose ispe claims 60000x60000 and a spy on pi-heif's container parser
    opened: list[object] = []
    real = pi_heif.HeifImageFile._open

    def spy(self: object) -> None:
        opened.append(self)
        real(self)  # type: ignore[arg-type]

    monkeypatch.setattr(pi_heif.HeifImageFile, "_open", spy)
    with pytest.raises(PermanentFault) as fault:
        imaging.process_image(
            hostile.ispe_bomb("HEIC"), "image/heic", Settings(), include_gps=False
        )
    # THEN refused from the container walk: libheif never parsed it
    assert fault.value.code == imaging.DECOMPRESSION_BOMB
    assert opened == []


def test_ispe_check_applies_to_the_largest_extent_only_with_a_pixel_budget() -> None:
    limits = structure.Limits(10, 100, 1 << 20, 10**9)  # no max_pixels: not checked here
    assert structure.check(hostile.ispe_bomb("AVIF"), "image/avif", limits).segments > 0
    tight = structure.Limits(10, 100, 1 << 20, 10**9, max_pixels=64 * 48 - 1)
    with pytest.raises(PermanentFault) as fault:
        structure.check(hostile.small_avif(), "image/avif", tight)
    assert fault.value.code == structure.DECOMPRESSION_BOMB


def test_isobmff_walk_accepts_64_bit_and_to_the_end_sizes() -> None:
    limits = structure.Limits(10, 100, 1 << 20, 10**9, max_pixels=10**6)
    base = hostile.small_avif()
    large = struct.pack(">I4sQ", 1, b"free", 16 + 4) + b"\x00" * 4
    to_end = struct.pack(">I4s", 0, b"free") + b"\x00" * 9
    assert structure.check(base + large, "image/avif", limits)
    assert structure.check(base + to_end, "image/avif", limits)
    # size 0 ("to the end") inside a container is not allowed
    nested = hostile.iso_box(b"moov", struct.pack(">I4s", 0, b"free"))
    with pytest.raises(PermanentFault) as fault:
        structure.check(base + nested, "image/avif", limits)
    assert fault.value.code == structure.CORRUPT_IMAGE


def test_isobmff_walk_counts_boxes_against_the_segment_limit() -> None:
    data = hostile.small_heic()
    counted = structure.check(data, "image/heic", structure.Limits(10, 1000, 1 << 20, 10**9))
    assert 10 < counted.segments < 40
    tight = structure.Limits(10, counted.segments - 1, 1 << 20, 10**9)
    with pytest.raises(PermanentFault) as fault:
        structure.check(data, "image/heic", tight)
    assert fault.value.code == structure.TOO_MANY_SEGMENTS


def test_box_nesting_at_the_limit_passes_and_one_deeper_fails() -> None:
    limits = structure.Limits(10, 1000, 1 << 20, 10**9)

    def nested(depth: int) -> bytes:
        box = b""
        for _ in range(depth):
            box = hostile.iso_box(b"moov", box)
        return hostile.small_avif() + box

    assert structure.check(nested(structure.MAX_BOX_DEPTH), "image/avif", limits)
    with pytest.raises(PermanentFault) as fault:
        structure.check(nested(structure.MAX_BOX_DEPTH + 1), "image/avif", limits)
    assert fault.value.code == structure.TOO_MANY_SEGMENTS


# --- AVIF derivatives -------------------------------------------------------------------------


def _metadata_rich_jpeg() -> bytes:
    from PIL import ImageCms

    image = pattern((400, 300))
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF>SECRET-XMP</rdf:RDF></x:xmpmeta>'
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=camera_exif(), icc_profile=icc, xmp=xmp)
    return buf.getvalue()


@pytest.mark.parametrize(
    ("source", "declared"),
    [
        (_metadata_rich_jpeg, "image/jpeg"),
        (camera_photo_heic, "image/heic"),
        (camera_photo_avif, "image/avif"),
    ],
    ids=["jpeg", "heic", "avif"],
)
def test_avif_derivatives_carry_no_metadata(source: object, declared: str) -> None:
    # GIVEN an original with EXIF (camera, GPS), and for the JPEG an ICC profile and XMP
    data = source()  # type: ignore[operator]
    settings = Settings(derivatives=(DerivativeSpec("a", 160, "avif", 60),))
    # WHEN rendered to AVIF
    result = imaging.process_image(data, declared, settings, include_gps=True)
    (derivative,) = result.derivatives
    body = derivative.body
    # THEN an AVIF of the right size, with no Exif or XMP item, no ICC profile, no marker
    assert derivative.content_type == "image/avif"
    assert imaging.sniff_type(body) == "image/avif"
    assert max(derivative.width, derivative.height) == 160
    for marker in (b"Exif", b"mime", b"prof", b"rICC", b"Mediakit", b"SECRET-XMP", b"xmpmeta"):
        assert marker not in body, marker
    with Image.open(io.BytesIO(body)) as image:
        image.load()
        assert image.format == "AVIF"
        assert not image.getexif()
        assert not {"exif", "icc_profile", "xmp"} & set(image.info)


def test_avif_derivative_keeps_alpha() -> None:
    settings = Settings(derivatives=(DerivativeSpec("a", 32, "avif"),))
    data = avif_bytes(Image.new("RGBA", (64, 48), (10, 200, 30, 0)), quality=60)
    body = imaging.process_image(data, "image/avif", settings, include_gps=False)
    with Image.open(io.BytesIO(body.derivatives[0].body)) as image:
        assert image.mode == "RGBA"
        assert image.getpixel((5, 5))[3] < 20  # type: ignore[index]


def test_avif_speed_is_part_of_the_spec_and_validated() -> None:
    # defaults: no speed given -> DEFAULT_AVIF_SPEED, and to_json omits it
    spec = DerivativeSpec("a", 100, "avif")
    assert spec.encoder_speed == DEFAULT_AVIF_SPEED == 8
    assert "speed" not in spec.to_json()
    # read from config with a speed, and written back
    settings = Settings.from_config(
        lambda key: (
            '[{"name":"a","max_edge":256,"format":"avif","speed":6}]'
            if key == "derivatives"
            else None
        )
    )
    assert settings.derivatives[0].speed == 6
    assert Settings.from_env(settings.to_env()).derivatives == settings.derivatives
    # refused: out of range, or on a format without a speed
    with pytest.raises(SettingsError, match=r"speed must be 0\.\.10"):
        Settings(derivatives=(DerivativeSpec("a", 100, "avif", speed=11),))
    with pytest.raises(SettingsError, match="avif only"):
        Settings(derivatives=(DerivativeSpec("j", 100, "jpeg", speed=6),))


def test_avif_speed_reaches_the_encoder() -> None:
    # GIVEN the same image rendered at two speeds / THEN different encodings
    data = hostile.small_heic()
    bodies = {
        speed: imaging.process_image(
            data,
            "image/heic",
            Settings(derivatives=(DerivativeSpec("a", 64, "avif", 70, speed=speed),)),
            include_gps=False,
        )
        .derivatives[0]
        .body
        for speed in (2, 10)
    }
    assert bodies[2] != bodies[10]


# --- the Lambda functions ---------------------------------------------------------------------


def test_presign_cold_import_stays_free_of_image_decoders() -> None:
    # GIVEN a fresh interpreter / WHEN the presign handler is imported
    probe = (
        "import sys, runtime.presign\n"
        "loaded = [m for m in ('pi_heif', '_pi_heif', 'runtime.imaging', 'PIL.Image') "
        "if m in sys.modules]\n"
        "print(','.join(loaded) or 'none')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=ROOT, check=True
    )
    # THEN no HEIF decoder (nor the image core) was loaded
    assert result.stdout.strip() == "none"


def test_artifact_vendors_the_pi_heif_pyproject_pins() -> None:
    import tomllib

    from stacks.artifact import VENDORED

    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    assert "pi-heif==1.4.0" in dependencies
    assert "pi-heif==1.4.0" in VENDORED
    # pillow-heif (GPL x265) is for generating samples only, never a runtime dependency
    assert not [d for d in dependencies if d.startswith("pillow-heif")]
    assert not [v for v in VENDORED if v.startswith("pillow-heif")]


def test_pi_heif_runs_with_security_limits_and_without_auxiliary_images() -> None:
    # GIVEN the image core imported / THEN libheif's own limits stay on and pi-heif does not
    # parse thumbnails, depth maps or auxiliary images it would never use
    assert pi_heif.options.DISABLE_SECURITY_LIMITS is False
    assert pi_heif.options.THUMBNAILS is False
    assert pi_heif.options.DEPTH_IMAGES is False
    assert pi_heif.options.AUX_IMAGES is False


@pytest.mark.parametrize("fmt", ["heic", "avif"])
def test_decoded_size_is_checked_again_after_decoding(fmt: str) -> None:
    # GIVEN a 64x48 file opened within its header's pixel budget
    data = hostile.small_heic() if fmt == "heic" else hostile.small_avif()
    image = imaging._open(data, f"image/{fmt}", 10**6)
    # WHEN it is decoded under a budget its decoded size exceeds (as when a coded stream is
    # larger than the ispe claimed) THEN refused as a bomb, whatever the header said
    with pytest.raises(PermanentFault) as fault:
        imaging.render_derivatives(image, ONE_SPEC, max_pixels=64 * 48 - 1)
    assert fault.value.code == imaging.DECOMPRESSION_BOMB


@pytest.mark.parametrize("fmt", ["heic", "avif"])
def test_metadata_items_count_against_the_metadata_budget(fmt: str) -> None:
    # GIVEN a small image carrying 100 KB of XMP as a metadata item (inside the coded data,
    # where the box walk does not look) and a 64 KiB metadata budget
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/">' + b"x" * 100_000 + b"</x:xmpmeta>"
    image = pattern((64, 48))
    if fmt == "heic":
        import pillow_heif

        buf = io.BytesIO()
        pillow_heif.from_pillow(image).save(buf, quality=60, xmp=xmp)
        data = buf.getvalue()
    else:
        data = avif_bytes(image, xmp=xmp)
    settings = Settings(derivatives=ONE_SPEC, max_metadata_bytes=64 * 1024)
    # WHEN processed THEN refused before the metadata is parsed
    with pytest.raises(PermanentFault) as fault:
        imaging.process_image(data, f"image/{fmt}", settings, include_gps=False)
    assert fault.value.code == imaging.METADATA_TOO_LARGE
    # and the same file completes under the default budget
    assert (
        imaging.process_image(
            data, f"image/{fmt}", Settings(derivatives=ONE_SPEC), include_gps=False
        ).width
        == 64
    )


def test_record_size_is_the_originals_even_when_the_jpeg_decodes_dct_scaled() -> None:
    # GIVEN a JPEG large enough that the 2048 derivative decodes it at half size (draft)
    buf = io.BytesIO()
    Image.new("RGB", (4200, 3000), (90, 120, 150)).save(buf, "JPEG", quality=80)
    # WHEN processed THEN the record carries the original's size, not the scaled decode's
    result = imaging.process_image(buf.getvalue(), "image/jpeg", Settings(), include_gps=False)
    assert (result.width, result.height) == (4200, 3000)
    assert max(d.width for d in result.derivatives) == 2048


@pytest.mark.parametrize("name", ["bad-item-type.heic", "bad-content-type.heic"])
def test_item_strings_pi_heif_crashes_on_are_refused_from_the_boxes(name: str) -> None:
    # GIVEN a HEIC whose item type or content type is not text
    data = hostile.BY_NAME[name].data
    # THEN pi-heif 1.4.0 alone dies on it (a positive control, in a child: when a pi-heif
    # upgrade stops crashing, this says the structure check may be revisited) ...
    probe = "import sys, pi_heif; pi_heif.open_heif(sys.stdin.buffer.read()); print('opened')"
    child = subprocess.run(
        [sys.executable, "-c", probe], input=data, capture_output=True, check=False
    )
    assert child.returncode < 0, child.stdout
    # ... and the image core refuses it before pi-heif sees it
    with pytest.raises(PermanentFault) as fault:
        imaging.process_image(data, "image/heic", Settings(), include_gps=False)
    assert fault.value.code == imaging.CORRUPT_IMAGE
