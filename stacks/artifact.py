"""Reproducible Lambda artifacts, one per function: the `runtime/` package, the AWS SDK (boto3,
botocore and their dependencies) and Powertools at the versions pinned in pyproject.toml, plus
the function's own libraries as manylinux wheels for the target architecture and Python (the
processor's media decoders; the presign function carries none), zipped so that the same sources
always give the same bytes.

The SDK is bundled, not taken from the Lambda runtime: AWS publishes no per-runtime SDK version,
recommends bundling it ("Working with .zip file archives for Python Lambda functions", Lambda
Developer Guide), and puts /var/task first on the search path, so the bundled copy wins. The
runtime needs botocore >= 1.36 (runtime/sdk.py). One pin serves the tests and the artifact:
pyproject.toml's `boto3==`/`botocore==`, which the venv installs and `sdk_pins()` reads. The
artifact's `mediakit-manifest.json` records every bundled distribution; `runtime.sdk.verify()`
compares the running botocore with it at cold start.

Wheels are fetched once with `pip download` into a local cache (`.mediakit/wheels`, one folder
per target and requirement set); later builds and the stack's on-demand build
(`ensure_artifact`) need no network.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.sdk import MANIFEST_NAME, MINIMUM_BOTOCORE, parse_version

ROOT = Path(__file__).resolve().parent.parent
# The kit's own project file holds the SDK pin (whatever `root` a build reads runtime/ from).
PYPROJECT = ROOT / "pyproject.toml"
CACHE_DIR = ROOT / ".mediakit"
ARCHITECTURES = {"arm64": "aarch64", "x86_64": "x86_64"}
# Lambda's Python runtimes (all on Amazon Linux 2023, glibc 2.34) Pillow 13 ships wheels for;
# 3.11 only exists to build for the machine running the tests.
LAMBDA_PYTHONS = ("3.12", "3.13", "3.14")
LOCAL_PYTHON = "3.11"
BUILD_PYTHONS = (LOCAL_PYTHON, *LAMBDA_PYTHONS)
DEFAULT_ARCH = "arm64"
# platform.machine() -> Lambda's name for that architecture.
MACHINES = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
DEFAULT_PYTHON = "3.14"
# Vendored besides the SDK pins; pip resolves their dependencies for the target. pi-heif (HEIC
# decoding: libheif + libde265, LGPL, 1.35 MB) has manylinux_2_28 wheels for both architectures
# and every BUILD_PYTHONS version; keep it equal to pyproject.toml's pin. simplejpeg (JPEG
# decoding at any eighth of the size: libjpeg-turbo, MIT/BSD/IJG) brings numpy (BSD-3, with
# OpenBLAS: 15 MB of the zip, never called) and has the same wheels.
VENDORED = ("pillow>=12", "pi-heif==1.4.0", "simplejpeg==1.9.0")
# What each function's artifact vendors beyond the pins: only the processor decodes media.
FUNCTIONS = ("presign", "processor", "media")
# The media function (audio/video) decodes with PyAV too: its pin comes from pyproject.toml's
# `media` extra (FUNCTION_EXTRAS), the same one the tests install. It keeps pi-heif because
# runtime.imaging (which renders its posters) imports it; that adds 1.35 MB.
FUNCTION_VENDORED: dict[str, tuple[str, ...]] = {
    "presign": (),
    "processor": VENDORED,
    "media": VENDORED,
}
FUNCTION_EXTRAS: dict[str, str] = {"media": "media"}
# The runtime module of each function's handler (`runtime.<module>.handler`).
HANDLER_MODULES: dict[str, str] = {
    "presign": "presign",
    "processor": "processor",
    "media": "media_processor",
}
# Runtime distributions pyproject.toml must pin exactly (`==`): the artifact bundles those
# versions, the SDK (never the Lambda runtime's own copy) and Powertools (runtime/telemetry.py).
PINNED = ("boto3", "botocore", "aws-lambda-powertools")
# Bump when the archive layout changes, so content-addressed artifacts are rebuilt.
FORMAT_VERSION = "3"
# Content-addressed artifacts per target kept in .mediakit/build (older ones are deleted).
KEEP_ARTIFACTS = 4
_EPOCH = (1980, 1, 1, 0, 0, 0)
_FILE_MODE = 0o100644
_EXEC_MODE = 0o100755


class BuildError(Exception):
    """The artifact cannot be built (bad target, wheels unavailable, runtime missing)."""


def host_arch(machine: str | None = None) -> str:
    """This machine's architecture as Lambda names it (`platform.machine()` by default); a
    BuildError for one Lambda has no wheels for."""
    import platform

    found = machine if machine is not None else platform.machine()
    arch = MACHINES.get(found.lower())
    if arch is None:
        raise BuildError(
            f"this machine is {found or 'of an unknown architecture'}, neither arm64 nor "
            "x86_64: pass --arch arm64 or --arch x86_64"
        )
    return arch


def default_arch(python: str, machine: str | None = None) -> str:
    """The architecture to build for when none is given: this machine's for the local-only
    Python (its zip is imported here, by the tests), else Lambda's default (`DEFAULT_ARCH`)."""
    return host_arch(machine) if python == LOCAL_PYTHON else DEFAULT_ARCH


@dataclass(frozen=True)
class Target:
    """What the artifact is for: the function, its Lambda architecture and Python version."""

    arch: str = DEFAULT_ARCH
    python: str = DEFAULT_PYTHON
    function: str = "processor"

    def __post_init__(self) -> None:
        if self.function not in FUNCTIONS:
            raise BuildError(f"--function must be one of {', '.join(FUNCTIONS)}")
        if self.arch not in ARCHITECTURES:
            raise BuildError(f"--arch must be one of {', '.join(ARCHITECTURES)}, got {self.arch}")
        if self.python not in BUILD_PYTHONS:
            raise BuildError(f"--python must be one of {', '.join(BUILD_PYTHONS)}")

    @property
    def machine(self) -> str:
        return ARCHITECTURES[self.arch]

    @property
    def abi(self) -> str:
        return "cp" + self.python.replace(".", "")

    @property
    def platforms(self) -> tuple[str, ...]:
        # manylinux_2_28 first: Pillow 13 ships only those; manylinux2014 alone falls back to 12.
        return (f"manylinux_2_28_{self.machine}", f"manylinux2014_{self.machine}")

    @property
    def name(self) -> str:
        return f"mediakit-{self.function}-py{self.python}-{self.arch}"


@dataclass(frozen=True)
class Artifact:
    path: Path
    sha256: str
    size: int


def sdk_pins(pyproject: Path = PYPROJECT) -> dict[str, str]:
    """`{"boto3": "1.44.8", "botocore": "1.44.8", ...}`: pyproject.toml's exact (`==`) pins of
    the `PINNED` distributions."""
    import tomllib

    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins: dict[str, str] = {}
    for spec in dependencies:
        match = re.fullmatch(r"\s*([A-Za-z0-9_.-]+)\s*(.*?)\s*", spec)
        if match is None or match.group(1).lower() not in PINNED:
            continue
        exact = re.fullmatch(r"==\s*([0-9][0-9A-Za-z.]*)", match.group(2))
        if exact is None:
            raise BuildError(
                f"{pyproject.name}: {spec!r} must be an exact pin (==): the Lambda artifact "
                "bundles that version and the tests run it"
            )
        pins[match.group(1).lower()] = exact.group(1)
    missing = [name for name in PINNED if name not in pins]
    if missing:
        raise BuildError(f"{pyproject.name} pins no {', '.join(missing)}")
    if parse_version(pins["botocore"]) < MINIMUM_BOTOCORE:
        floor = ".".join(map(str, MINIMUM_BOTOCORE))
        raise BuildError(f"botocore {pins['botocore']} is pinned; the runtime needs >= {floor}")
    return pins


def requirements(function: str = "processor") -> tuple[str, ...]:
    """What `function`'s artifact vendors: its own libraries and the pinned SDK and Powertools
    (dependencies resolved by pip)."""
    pins = (f"{name}=={version}" for name, version in sdk_pins().items())
    extra = FUNCTION_EXTRAS.get(function)
    extras = extra_pins(extra) if extra else ()
    return (*FUNCTION_VENDORED[function], *extras, *pins)


def extra_pins(extra: str, pyproject: Path = PYPROJECT) -> tuple[str, ...]:
    """pyproject.toml's `[project.optional-dependencies] <extra>`, each an exact pin (`==`):
    the artifact bundles those versions and the tests run them."""
    import tomllib

    specs = tomllib.loads(pyproject.read_text())["project"]["optional-dependencies"][extra]
    for spec in specs:
        if not re.fullmatch(r"\s*[A-Za-z0-9_.-]+\s*==\s*[0-9][0-9A-Za-z.]*\s*", spec):
            raise BuildError(f"{pyproject.name}: {extra} extra {spec!r} must be an exact pin (==)")
    return tuple(spec.replace(" ", "") for spec in specs)


def _distribution(wheel: Path) -> tuple[str, str]:
    """`botocore-1.44.8-py3-none-any.whl` -> ("botocore", "1.44.8"), names normalised."""
    name, version = wheel.name.split("-")[:2]
    return re.sub(r"[-_.]+", "-", name).lower(), version


def fetch_wheels(target: Target, cache_dir: Path = CACHE_DIR / "wheels") -> list[Path]:
    """Wheels for the target and its function's requirements (the pinned SDK, the function's own
    libraries and their dependencies), from the cache or downloaded once with pip."""
    wanted = requirements(target.function)
    key = hashlib.sha256("\n".join(wanted).encode()).hexdigest()[:12]
    wheel_dir = cache_dir / f"{target.abi}-{target.machine}-{key}"
    wheels = sorted(wheel_dir.glob("*.whl"))
    if wheels:
        return wheels
    # Said once, on stderr: the first build of a target needs the network (PyPI) and takes a while.
    print(
        f"building the Lambda artifacts: downloading the wheels for {target.name} "
        f"(first build of this target only, then cached in {cache_dir})...",
        file=sys.stderr,
        flush=True,
    )
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Downloaded next to the cache and renamed into place whole: a download that fails half-way
    # never leaves a partial wheel set that later builds would take for the full one.
    tmp = Path(tempfile.mkdtemp(prefix=f".{wheel_dir.name}.", dir=cache_dir))
    try:
        # No --no-deps: the SDK's closure (s3transfer, jmespath, urllib3, dateutil, six) comes
        # too, so nothing the runtime imports is left to whatever the Lambda runtime ships.
        cmd = [sys.executable, "-m", "pip", "download", "--quiet"]
        cmd += ["--only-binary=:all:", "--implementation", "cp"]
        cmd += ["--python-version", target.python]
        for platform in target.platforms:
            cmd += ["--platform", platform]
        cmd += ["--dest", str(tmp), *wanted]
        env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)  # noqa: S603
        if proc.returncode != 0 or not any(tmp.glob("*.whl")):
            raise BuildError(download_failure(target, proc.stderr))
        with contextlib.suppress(OSError):
            wheel_dir.rmdir()  # an empty folder an older version left
        try:
            os.replace(tmp, wheel_dir)
        except OSError:
            if not any(wheel_dir.glob("*.whl")):  # else a concurrent build finished first
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return sorted(wheel_dir.glob("*.whl"))


# pip's words for "no index answered": a refused or failed connection.
_OFFLINE = re.compile(
    r"NewConnectionError|Failed to establish a new connection|Name or service not known|"
    r"Temporary failure in name resolution|Max retries exceeded"
)
# No wheel of a requirement for this platform and Python: the index has none, or (when pip
# does not retry, so prints no connection error) no index answered at all.
_NO_WHEEL = re.compile(r"No matching distribution found for (\S+)")


def download_failure(target: Target, pip_stderr: str) -> str:
    """One line for a failed `pip download`: the likely cause first, then pip's own last error."""
    errors = [line.removeprefix("ERROR: ").strip() for line in pip_stderr.splitlines()]
    errors = [line for line in errors if line and not line.startswith("WARNING:")]
    last = errors[-1] if errors else "no output"
    missing = _NO_WHEEL.search(pip_stderr)
    if _OFFLINE.search(pip_stderr):
        cause = (
            "no package index answered (offline? PIP_INDEX_URL wrong?): connect to PyPI or "
            "point PIP_INDEX_URL at a reachable index, then run again"
        )
    elif missing:
        # pip words both alike when it does not retry: say both.
        cause = (
            f"no wheel of {missing.group(1)} for that architecture and Python was found: "
            "either the index has none (pick another --arch/--python, or a version that ships "
            "one) or no index answered (offline? PIP_INDEX_URL wrong?)"
        )
    else:
        cause = "see pip's error"
    return f"cannot download the Lambda wheels for {target.name}: {cause} (pip: {last[-300:]})"


def manifest(target: Target, wheels: list[Path]) -> dict[str, Any]:
    """What the artifact is built from; bundled at its root and read by `runtime.sdk.verify`."""
    distributions = dict(sorted(_distribution(w) for w in wheels))
    for name, version in sdk_pins().items():
        if distributions.get(name) != version:
            raise BuildError(
                f"the wheels for {target.name} hold {name} {distributions.get(name)}, "
                f"pyproject.toml pins {version}"
            )
    return {
        "format": FORMAT_VERSION,
        "target": {"function": target.function, "arch": target.arch, "python": target.python},
        "requirements": list(requirements(target.function)),
        "distributions": distributions,
    }


def read_manifest(zip_path: Path) -> dict[str, Any]:
    """The manifest bundled in a built artifact."""
    with zipfile.ZipFile(zip_path) as zf:
        data: dict[str, Any] = json.loads(zf.read(MANIFEST_NAME))
    return data


def runtime_files(root: Path = ROOT) -> dict[str, bytes]:
    """The `runtime/` package as archive name -> bytes, without caches."""
    package = root / "runtime"
    if not (package / "__init__.py").is_file():
        raise BuildError(f"{package} is not a Python package")
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        rel = path.relative_to(root)
        if not path.is_file() or "__pycache__" in rel.parts or path.suffix in (".pyc", ".pyo"):
            continue
        files[rel.as_posix()] = path.read_bytes()
    return files


def wheel_files(wheels: list[Path]) -> dict[str, bytes]:
    """Every file of the wheels, unpacked as `pip install --target` would lay them out."""
    files: dict[str, bytes] = {}
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as zf:
            for info in zf.infolist():
                if info.is_dir() or "__pycache__" in info.filename:
                    continue
                files[info.filename] = zf.read(info)
    return files


def deterministic_zip(files: dict[str, bytes]) -> bytes:
    """Sorted entries, 1980-01-01 timestamps, fixed modes and compression: same files, same
    bytes."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # unix, so external_attr carries the mode
            mode = _EXEC_MODE if name.endswith(".so") or ".so." in name else _FILE_MODE
            info.external_attr = mode << 16
            # Level 6: a third of level 9's time for 0.3% more bytes (Pillow's .so dominate).
            zf.writestr(info, files[name], compresslevel=6)
    return buf.getvalue()


def collect(target: Target, root: Path = ROOT, cache_dir: Path = CACHE_DIR) -> dict[str, bytes]:
    wheels = fetch_wheels(target, cache_dir / "wheels")
    files = wheel_files(wheels)
    runtime = runtime_files(root)
    clash = set(files) & (set(runtime) | {MANIFEST_NAME})
    if clash:
        raise BuildError(f"wheel files would overwrite runtime files: {sorted(clash)[:5]}")
    files.update(runtime)
    text = json.dumps(manifest(target, wheels), indent=2, sort_keys=True) + "\n"
    files[MANIFEST_NAME] = text.encode()
    return files


def build(
    target: Target, out_dir: Path, root: Path = ROOT, cache_dir: Path = CACHE_DIR
) -> Artifact:
    """Build `<out_dir>/<target.name>.zip` and return its path, sha256 and size."""
    data = deterministic_zip(collect(target, root, cache_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{target.name}.zip"
    path.write_bytes(data)
    return Artifact(path, hashlib.sha256(data).hexdigest(), len(data))


def ensure_artifact(target: Target, root: Path = ROOT, cache_dir: Path = CACHE_DIR) -> Artifact:
    """The artifact for the current sources, built only if this exact input set has not been.

    Content-addressed by the runtime sources, wheel names (so the SDK pin) and format version, so
    a stale zip is never deployed after the runtime or the pin changes.
    """
    wheels = fetch_wheels(target, cache_dir / "wheels")
    digest = hashlib.sha256(FORMAT_VERSION.encode())
    for name, data in sorted(runtime_files(root).items()):
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    for wheel in wheels:
        digest.update(wheel.name.encode() + b"\0")
    path = cache_dir / "build" / f"{target.name}-{digest.hexdigest()[:16]}.zip"
    if not path.is_file():
        data = deterministic_zip(collect(target, root, cache_dir))
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # atomic: a concurrent synth never reads half a zip
        _prune(path.parent, target, keep=KEEP_ARTIFACTS)
    data = path.read_bytes()
    return Artifact(path, hashlib.sha256(data).hexdigest(), len(data))


def _prune(build_dir: Path, target: Target, keep: int) -> None:
    """Drop all but the `keep` newest artifacts of `target` (each is several MB)."""
    artifacts = sorted(
        build_dir.glob(f"{target.name}-*.zip"), key=lambda p: p.stat().st_mtime, reverse=True
    )
    for old in artifacts[keep:]:
        old.unlink(missing_ok=True)
