"""The upload page in a real browser: headless Chromium (Debian's, installed by `make test`)
driven by Playwright uploads a JPEG by PUT and an 11 MiB image by multipart through
`mediakit dev`, sees the derivatives and the EXIF, and the same page served from an origin the
API does not allow cannot upload (the browser's CORS refusal, as on AWS).

A screenshot is saved under the test's tmp dir; with MEDIAKIT_SCREENSHOT=path (e.g.
docs/dev-page.png) it is copied there too. Without Chromium the tests skip saying why, except
under CI=true, where they fail.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from mediakit.client import ApiClient
from mediakit.local.emulator import DevEnv, Emulator, mint_token
from mediakit.local.site import PAGE_DIR
from runtime.settings import Settings
from tests.emulator.conftest import jpeg_bytes

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
CHROMIUM = Path(os.environ.get("MEDIAKIT_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium's own connections (updates, sync, field
# trials) are refused by a machine with no network, many at a time, and slow every start.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOT_ENV = "MEDIAKIT_SCREENSHOT"
WAIT_MS = 120_000


def _unavailable() -> str | None:
    """Why the browser cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is not installed (`make test` installs Debian's chromium as root)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    return None


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    """A fresh headless Chromium profile (its own --user-data-dir), closed after the module."""
    reason = _unavailable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the browser test cannot run under CI: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    profile = tempfile.mkdtemp(prefix="mediakit-chromium-")
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                profile,
                executable_path=str(CHROMIUM),
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": 1100, "height": 900},
            )
            try:
                yield context
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def dev() -> Iterator[DevEnv]:
    """The real pipeline, with files of 5 MiB and more going multipart in 5 MiB parts."""
    settings = Settings(multipart_threshold_bytes=5 * MIB, multipart_part_bytes=5 * MIB)
    with Emulator(settings) as env:
        yield env


@pytest.fixture(scope="module")
def foreign_origin() -> Iterator[str]:
    """The same page files served from another port: an origin no CORS rule allows."""
    handler = partial(_QuietFiles, directory=str(PAGE_DIR))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


def _big_image(path: Path) -> Path:
    """An ~11 MiB PNG (a colour gradient under noise, so it does not compress) that decodes."""
    from PIL import Image, ImageChops

    width, height = 2400, 1800
    ramp = Image.linear_gradient("L")
    red = ramp.resize((width, height))
    green = Image.radial_gradient("L").resize((width, height))
    blue = ramp.transpose(Image.Transpose.ROTATE_90).resize((width, height))
    base = Image.merge("RGB", (red, green, blue)).point(lambda v: int(v * 0.66))
    noise = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    ImageChops.add(base, noise.point(lambda v: v // 3)).save(path, "PNG", compress_level=1)
    assert path.stat().st_size > 10 * MIB
    return path


def _console(page: Any) -> list[str]:
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    return messages


def _save(page: Any, tmp_path: Path, name: str) -> Path:
    shot = tmp_path / name
    page.screenshot(path=str(shot), full_page=True)
    target = os.environ.get(SCREENSHOT_ENV)
    if target and name == "dev-page.png":
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(shot, target)
    print(f"screenshot: {shot}")
    return shot


def test_browser_page_uploads_by_put_and_multipart(
    chromium: Any, dev: DevEnv, tmp_path: Path
) -> None:
    # GIVEN the page at the API's origin, a JPEG with camera EXIF and an 11 MiB image
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_bytes((1200, 800), make="Mediakit", model="Browser"))
    big = _big_image(tmp_path / "big.png")
    page = chromium.new_page()
    console = _console(page)
    page.goto(f"{dev.api_url}/")
    # WHEN a dev token is fetched for a tenant and both files are picked
    page.fill("#tenant", "browser")
    page.click("#get-token")
    page.locator("#token-info", has_text='Token for tenant "browser"').wait_for()
    page.set_input_files("#files", [str(photo), str(big)])
    done = page.locator("li.upload[data-state=completed], li.upload[data-state=failed]")
    done.nth(1).wait_for(timeout=WAIT_MS)
    # THEN each completed by the method the API chose, with every derivative shown and loaded
    cards = {card.locator(".name").inner_text(): card for card in page.locator("li.upload").all()}
    shot = _save(page, tmp_path, "dev-page.png")
    states = {name: card.get_attribute("data-state") for name, card in cards.items()}
    details = {name: card.locator(".detail").inner_text() for name, card in cards.items()}
    assert states == {"photo.jpg": "completed", "big.png": "completed"}, (details, console)
    assert cards["photo.jpg"].get_attribute("data-method") == "PUT"
    assert cards["big.png"].get_attribute("data-method") == "MULTIPART"
    for card in cards.values():
        images = card.locator(".derivatives img")
        assert images.count() == 3
        for image in images.all():
            image.wait_for()
        loaded = images.evaluate_all("imgs => imgs.every(i => i.complete && i.naturalWidth > 0)")
        assert loaded, "a derivative URL did not load in the browser"
    # AND the record's EXIF is on the page, and the API has both uploads for that tenant
    assert "Mediakit" in cards["photo.jpg"].locator(".metadata").inner_text()
    items = ApiClient(dev.api_url, mint_token(dev, "browser")).call("GET", "/v1/uploads")["items"]
    assert sorted(i["status"] for i in items) == ["completed", "completed"]
    assert shot.stat().st_size > 0
    page.close()


def test_browser_page_uploads_by_form_post(chromium: Any, dev: DevEnv, tmp_path: Path) -> None:
    # GIVEN the page asking for browser-style form POSTs (a POST policy instead of a signed PUT)
    photo = tmp_path / "form.jpg"
    photo.write_bytes(jpeg_bytes((640, 480), make="Mediakit", model="Form"))
    page = chromium.new_page()
    console = _console(page)
    page.goto(f"{dev.api_url}/dev/")
    page.fill("#tenant", "browser-form")
    page.select_option("#method", "POST")
    # WHEN a file is picked (the token is fetched on the way)
    page.set_input_files("#files", [str(photo)])
    card = page.locator("li.upload")
    page.locator("li.upload[data-state=completed], li.upload[data-state=failed]").wait_for(
        timeout=WAIT_MS
    )
    # THEN it went by POST and completed with its derivatives
    detail = card.locator(".detail").inner_text()
    assert card.get_attribute("data-state") == "completed", (detail, console)
    assert card.get_attribute("data-method") == "POST"
    assert card.locator(".derivatives img").count() == 3
    assert "Form" in card.locator(".metadata").inner_text()
    page.close()


def test_browser_page_from_a_disallowed_origin_cannot_upload(
    chromium: Any, dev: DevEnv, foreign_origin: str, tmp_path: Path
) -> None:
    # GIVEN the same page served from an origin neither the API nor the bucket allows, pointed
    # at the emulator's API with a valid token (it cannot mint one: the token endpoint is
    # same-origin only)
    photo = tmp_path / "photo.jpg"
    photo.write_bytes(jpeg_bytes())
    page = chromium.new_page()
    console = _console(page)
    page.goto(f"{foreign_origin}/index.html")
    page.locator("#issuer-info", has_text="Not served by mediakit dev").wait_for()
    page.fill("#api-url", dev.api_url)
    page.fill("#token", mint_token(dev, "outsider"))
    # WHEN a file is picked
    page.set_input_files("#files", [str(photo)])
    page.locator("li.upload[data-state=failed]").wait_for(timeout=WAIT_MS)
    _save(page, tmp_path, "dev-page-disallowed-origin.png")
    # THEN the page shows the refusal, the browser blamed CORS, and nothing was created
    detail = page.locator("li.upload .detail").inner_text()
    assert "blocked" in detail
    assert foreign_origin in detail
    assert any("CORS policy" in line for line in console), console
    assert page.locator("#get-token").is_disabled()
    items = ApiClient(dev.api_url, mint_token(dev, "outsider")).call("GET", "/v1/uploads")
    assert items["items"] == []
    page.close()
