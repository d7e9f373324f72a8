"""The Lambda artifacts, one per function: reproducible bytes, Pillow for the target ABI in the
processor's zip only, the pinned AWS SDK bundled and recorded in the manifest, each handler
importable with nothing but its own zip, and the cold-start check that refuses any other
botocore."""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from runtime import sdk
from stacks.artifact import (
    ROOT,
    BuildError,
    Target,
    build,
    ensure_artifact,
    read_manifest,
    sdk_pins,
)

# The SDK's import closure: bundled, never left to what the Lambda runtime ships.
SDK_CLOSURE = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(Target("arm64", "3.14"), tmp_path_factory.mktemp("a")).path


@pytest.fixture(scope="module")
def presign_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(Target("arm64", "3.14", "presign"), tmp_path_factory.mktemp("p")).path


def test_build_twice_gives_identical_bytes(lambda_zip: Path, tmp_path: Path) -> None:
    # GIVEN the same sources / WHEN built again elsewhere / THEN the same bytes
    again = build(Target("arm64", "3.14"), tmp_path).path
    assert again.name == "mediakit-processor-py3.14-arm64.zip"
    assert (
        hashlib.sha256(again.read_bytes()).digest()
        == hashlib.sha256(lambda_zip.read_bytes()).digest()
    )


def test_zip_holds_pillow_for_the_target_abi_and_the_handlers(lambda_zip: Path) -> None:
    names = zipfile.ZipFile(lambda_zip).namelist()
    assert "PIL/_imaging.cpython-314-aarch64-linux-gnu.so" in names
    assert not [n for n in names if n.startswith("PIL/_imaging.") and "x86_64" in n]
    assert "runtime/presign.py" in names
    assert "runtime/processor.py" in names
    assert "runtime/settings.py" in names
    assert "runtime/sdk.py" in names
    for package in SDK_CLOSURE:
        assert any(n.startswith((f"{package}/", f"{package}.py")) for n in names), package


def test_manifest_records_the_pinned_sdk_the_tests_run(lambda_zip: Path) -> None:
    # GIVEN the built artifact's manifest and pyproject.toml's pins
    bundled = read_manifest(lambda_zip)["distributions"]
    pins = sdk_pins()
    # THEN the zip bundles exactly the pinned boto3/botocore ...
    assert bundled["boto3"] == pins["boto3"]
    assert bundled["botocore"] == pins["botocore"]
    # ... and the tests run that same botocore (one pin for both)
    assert importlib.metadata.version("botocore") == pins["botocore"]
    assert importlib.metadata.version("boto3") == pins["boto3"]
    zipped = zipfile.ZipFile(lambda_zip).read("botocore/__init__.py").decode()
    assert f"__version__ = '{pins['botocore']}'" in zipped
    assert read_manifest(lambda_zip)["target"] == {
        "function": "processor",
        "arch": "arm64",
        "python": "3.14",
    }


def test_presign_zip_carries_no_media_library(presign_zip: Path, lambda_zip: Path) -> None:
    # GIVEN the presign function's own zip THEN no Pillow (nor any other decoder) in it, the
    # SDK closure and the runtime sources are, and it is a fraction of the processor's
    names = zipfile.ZipFile(presign_zip).namelist()
    assert presign_zip.name == "mediakit-presign-py3.14-arm64.zip"
    assert not [n for n in names if n.startswith(("PIL/", "pillow", "pi_heif", "av/"))]
    assert not [n for n in names if n.endswith(".so")], "presign needs no native library"
    assert "runtime/presign.py" in names
    for package in SDK_CLOSURE:
        assert any(n.startswith((f"{package}/", f"{package}.py")) for n in names), package
    manifest = read_manifest(presign_zip)
    assert manifest["target"]["function"] == "presign"
    assert "pillow" not in manifest["distributions"]
    assert presign_zip.stat().st_size < lambda_zip.stat().st_size


def test_pin_must_be_exact_and_recent(tmp_path: Path) -> None:
    # GIVEN a pyproject.toml with a range instead of a pin WHEN read THEN the build refuses it
    loose = tmp_path / "pyproject.toml"
    loose.write_text(
        '[project]\ndependencies = ["boto3>=1.34", "botocore==1.44.8", '
        '"aws-lambda-powertools==3.37.0"]\n'
    )
    with pytest.raises(BuildError, match="must be an exact pin"):
        sdk_pins(loose)
    # GIVEN a pin older than the runtime's floor THEN refused, naming the floor
    old = tmp_path / "old.toml"
    old.write_text(
        '[project]\ndependencies = ["boto3==1.35.99", "botocore==1.35.99", '
        '"aws-lambda-powertools==3.37.0"]\n'
    )
    with pytest.raises(BuildError, match=r"needs >= 1\.36\.0"):
        sdk_pins(old)


def test_zip_entries_sorted_fixed_time_fixed_modes_no_caches(lambda_zip: Path) -> None:
    infos = zipfile.ZipFile(lambda_zip).infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        mode = stat.S_IMODE(info.external_attr >> 16)
        assert mode == (0o755 if ".so" in info.filename else 0o644), info.filename


def test_ensure_artifact_is_content_addressed(tmp_path: Path) -> None:
    # GIVEN a copy of the sources / WHEN the runtime changes / THEN a new artifact, never stale
    root = tmp_path / "src"
    shutil.copytree(
        ROOT / "runtime", root / "runtime", ignore=shutil.ignore_patterns("__pycache__")
    )
    cache = tmp_path / "cache"
    shutil.copytree(ROOT / ".mediakit" / "wheels", cache / "wheels")
    target = Target("arm64", "3.14")
    first = ensure_artifact(target, root, cache)
    assert ensure_artifact(target, root, cache) == first
    (root / "runtime" / "presign.py").write_text(
        (root / "runtime" / "presign.py").read_text() + "\n# changed\n"
    )
    changed = ensure_artifact(target, root, cache)
    assert changed.path != first.path
    assert changed.sha256 != first.sha256


def test_target_rejects_unknown_arch_and_python() -> None:
    with pytest.raises(Exception, match="--arch"):
        Target("arm32", "3.14")
    with pytest.raises(Exception, match="--python"):
        Target("arm64", "3.10")
    with pytest.raises(Exception, match="--function"):
        Target("arm64", "3.14", "thumbnailer")


@pytest.fixture(scope="module")
def local_task(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A build for this machine (cp311 x86_64), extracted as Lambda lays it out in /var/task."""
    tmp = tmp_path_factory.mktemp("local")
    artifact = build(Target("x86_64", "3.11"), tmp / "out")
    task = tmp / "task"
    zipfile.ZipFile(artifact.path).extractall(task)
    return task


def test_presign_handler_imports_from_its_own_zip_in_isolation(tmp_path: Path) -> None:
    # GIVEN the presign zip for this machine, extracted, and nothing else
    artifact = build(Target("x86_64", "3.11", "presign"), tmp_path / "out")
    task = tmp_path / "task"
    zipfile.ZipFile(artifact.path).extractall(task)
    probe = (
        "import sys; sys.path[:0] = sys.argv[1:]\n"
        "import runtime.presign, runtime.sdk\n"
        "assert runtime.presign.__file__.startswith(sys.argv[1])\n"
        "assert 'PIL' not in sys.modules\n"
        "print('ok', runtime.sdk.verify())\n"
    )
    # WHEN the handler is imported THEN it needs nothing the zip lacks (no Pillow anywhere)
    result = _isolated(probe, task)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["ok", sdk_pins()["botocore"]]


def _isolated(probe: str, *path: Path) -> subprocess.CompletedProcess[str]:
    """`probe` in a fresh interpreter with -I -S (no site-packages, no user paths, no env) and
    only `path` on sys.path, in that order."""
    return subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, *map(str, path)],
        capture_output=True,
        text=True,
        cwd=path[0].parent,
        env={},
        check=False,
    )


def test_handlers_import_from_the_extracted_zip_in_isolation(local_task: Path) -> None:
    # GIVEN the extracted zip and nothing else: no SDK from the machine, as none from Lambda's
    probe = (
        "import sys; sys.path[:0] = sys.argv[1:]\n"
        "import runtime.presign, runtime.processor, runtime.imaging, runtime.sdk\n"
        "import PIL, PIL.Image, PIL._imaging, boto3, botocore\n"
        "assert PIL._imaging.__file__.startswith(sys.argv[1]), PIL._imaging.__file__\n"
        "assert botocore.__file__.startswith(sys.argv[1]), botocore.__file__\n"
        "assert runtime.presign.__file__.startswith(sys.argv[1])\n"
        "assert callable(runtime.presign.handler) and callable(runtime.processor.handler)\n"
        "PIL.Image.new('RGB', (8, 8)).save(__import__('io').BytesIO(), 'JPEG')\n"
        "boto3.session.Session(region_name='us-east-1').client('s3', config=__import__("
        "'runtime.aws').aws.client_config('s3'))\n"
        "print('ok', PIL.__version__, runtime.sdk.verify())\n"
    )
    # WHEN both handlers are imported and an S3 client is built with the runtime's config
    result = _isolated(probe, local_task)
    # THEN everything comes from the zip and the cold-start check passes on the bundled botocore
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == [
        "ok",
        importlib.metadata.version("pillow"),
        sdk_pins()["botocore"],
    ]


def test_cold_start_check_refuses_a_shadowing_botocore(local_task: Path, tmp_path: Path) -> None:
    # GIVEN an older botocore placed before the task root (a layer, or PYTHONPATH)
    shadow = tmp_path / "layer"
    (shadow / "botocore").mkdir(parents=True)
    (shadow / "botocore" / "__init__.py").write_text("__version__ = '1.35.99'\n")
    probe = "import sys; sys.path[:0] = sys.argv[1:]\nimport runtime.sdk\nruntime.sdk.verify()\n"
    # WHEN the check runs at cold start
    result = _isolated(probe, shadow, local_task)
    # THEN it fails loudly, naming the running and the bundled version and the likely cause
    assert result.returncode != 0
    assert "SdkVersionError: botocore 1.35.99 is running but this artifact bundles botocore" in (
        result.stderr
    )
    assert sdk_pins()["botocore"] in result.stderr
    assert "shadows /var/task" in result.stderr


def test_cold_start_check_without_a_manifest_wants_the_minimum(tmp_path: Path) -> None:
    # GIVEN no artifact manifest (tests, the local emulator) WHEN botocore is older than 1.36
    # THEN refused, naming the floor; a recent one passes
    with pytest.raises(sdk.SdkVersionError, match=r"older than 1\.36\.0"):
        sdk.check("1.35.99", sdk.bundled_botocore(tmp_path / "missing.json"))
    sdk.check("1.36.0", None)
    sdk.check(importlib.metadata.version("botocore"), None)
    # GIVEN a manifest that records no botocore THEN the check refuses to guess
    broken = tmp_path / sdk.MANIFEST_NAME
    broken.write_text(json.dumps({"distributions": {}}))
    with pytest.raises(sdk.SdkVersionError, match="records no botocore"):
        sdk.bundled_botocore(broken)
