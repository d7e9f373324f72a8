"""The Lambda artifact: reproducible bytes, Pillow for the target ABI, handlers importable with
nothing but the zip and what Lambda itself provides (boto3 and its dependencies)."""

from __future__ import annotations

import hashlib
import importlib.util
import shutil
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from mediakit.build import ROOT, Target, build, ensure_artifact

# What the Lambda Python runtime ships: boto3 and its import closure. Nothing else is vendored.
LAMBDA_PROVIDED = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")


@pytest.fixture(scope="module")
def lambda_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(Target("arm64", "3.14"), tmp_path_factory.mktemp("a")).path


def test_build_twice_gives_identical_bytes(lambda_zip: Path, tmp_path: Path) -> None:
    # GIVEN the same sources / WHEN built again elsewhere / THEN the same bytes
    again = build(Target("arm64", "3.14"), tmp_path).path
    assert again.name == "mediakit-lambda-py3.14-arm64.zip"
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
    assert not [n for n in names if n.startswith(("boto3/", "botocore/"))]


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


def _lambda_provided(tmp_path: Path) -> Path:
    """A directory holding only boto3's closure, as Lambda's runtime puts it on sys.path."""
    provided = tmp_path / "lambda-runtime"
    provided.mkdir()
    for name in LAMBDA_PROVIDED:
        spec = importlib.util.find_spec(name)
        assert spec is not None, name
        assert spec.origin is not None, name
        origin = Path(spec.origin)
        source = origin.parent if origin.name == "__init__.py" else origin
        (provided / source.name).symlink_to(source)
    return provided


def test_handlers_import_from_the_extracted_zip_in_isolation(tmp_path: Path) -> None:
    # GIVEN a build for this machine (cp311 x86_64), extracted
    artifact = build(Target("x86_64", "3.11"), tmp_path / "out")
    task = tmp_path / "task"
    zipfile.ZipFile(artifact.path).extractall(task)
    provided = _lambda_provided(tmp_path)
    probe = (
        "import sys; sys.path[:0] = [sys.argv[1], sys.argv[2]]\n"
        "import runtime.presign, runtime.processor, runtime.imaging\n"
        "import PIL, PIL.Image, PIL._imaging\n"
        "assert PIL._imaging.__file__.startswith(sys.argv[1]), PIL._imaging.__file__\n"
        "assert runtime.presign.__file__.startswith(sys.argv[1])\n"
        "assert callable(runtime.presign.handler) and callable(runtime.processor.handler)\n"
        "PIL.Image.new('RGB', (8, 8)).save(__import__('io').BytesIO(), 'JPEG')\n"
        "print('ok', PIL.__version__)\n"
    )
    # WHEN a fresh interpreter runs with -I -S: no site-packages, no user paths, no env
    result = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe, str(task), str(provided)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={},
        check=False,
    )
    # THEN both handlers import, with Pillow's native module from the zip
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("ok 1")
