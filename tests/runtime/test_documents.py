"""runtime.documents.scan: a PDF is hashed as it streams and checked at both ends; everything
else, cut or riding along fails with its code."""

from __future__ import annotations

import hashlib
import io
import zipfile

import pytest

from runtime.documents import scan
from runtime.errors import PermanentFault
from runtime.settings import Settings, kind_of


def _pdf() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (32, 32), (1, 2, 3)).save(buf, "PDF")
    return buf.getvalue()


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("chunk", [1, 7, 4096, 1 << 20])
def test_scan_valid_pdf_any_chunking(chunk: int) -> None:
    # GIVEN a real PDF streamed in chunks of any size
    data = _pdf()
    # WHEN it is scanned
    info = scan(_chunks(data, chunk))
    # THEN the digest, size and header version are those of the whole file
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == len(data)
    assert info.version.startswith("1.")


def _zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        archive.writestr("a.txt", "x")
    return buf.getvalue()


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda pdf: b"", "empty_file"),
        (lambda pdf: b"<html><body>hi</body></html>", "type_mismatch"),
        (lambda pdf: b"\xff\xd8\xff\xe0" + pdf, "type_mismatch"),  # JPEG bytes, then a PDF
        (lambda pdf: b" " + pdf, "type_mismatch"),  # readers skip junk before %PDF-; we do not
        (lambda pdf: pdf.replace(b"\n", b"\n<script>x</script>\n", 1), "polyglot"),
        (lambda pdf: pdf + _zip(), "polyglot"),
        (lambda pdf: pdf + b"<html>more</html>", "polyglot"),
        (lambda pdf: pdf[: len(pdf) // 2], "truncated"),
        (lambda pdf: pdf[:-8], "truncated"),
        (lambda pdf: b"%PDF-1.4\nstartxref\n999999\n%%EOF\n", "truncated"),
    ],
    ids=[
        "empty",
        "html",
        "jpeg-prefix",
        "leading-junk",
        "html-in-header",
        "zip-appended",
        "html-appended",
        "cut-in-half",
        "cut-trailer",
        "xref-past-end",
    ],
)
def test_scan_hostile_files_fail_with_their_code(make: object, code: str) -> None:
    # GIVEN a file that is not a plain PDF
    data = make(_pdf())  # type: ignore[operator]
    # WHEN it is scanned
    with pytest.raises(PermanentFault) as failure:
        scan(_chunks(data, 1000))
    # THEN it fails with its code
    assert failure.value.code == code


def test_document_kind_is_opt_in_and_pdf_only() -> None:
    # GIVEN the kind table and the default settings
    # THEN application/pdf is the document kind's one type, accepted only when the kind is on
    assert kind_of("application/pdf") == "document"
    assert kind_of("application/zip") == "application"
    assert "application/pdf" not in Settings().accepted_types
    on = Settings(media_kinds=("image", "document"))
    assert [t for t in on.accepted_types if kind_of(t) == "document"] == ["application/pdf"]
