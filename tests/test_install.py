"""Each command installs only what it needs (issue 14.4): `make demo` the main dependencies and
the `demo` extra, `make test` the `dev` extra, `make bench` the `bench` extra, read from what
`make -n` would run and from pyproject.toml; the demo really runs with nothing else importable;
`make clean` removes everything the commands write."""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from stacks import artifact

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
# What the demo must never cost a newcomer: linters, type checkers and stubs, test tools, the
# browser driver, the bench's references (numpy is not one any more: the processor decodes
# JPEGs with simplejpeg, which needs it), the contract validators, and moto's `server` extra
# (CloudFormation linting, symbolic maths) for services the emulator never runs.
NOT_FOR_THE_DEMO = {
    "mypy",
    "ruff",
    "pytest",
    "hypothesis",
    "playwright",
    "pyvips",
    "pyvips-binary",
    "boto3-stubs",
    "botocore-stubs",
    "types-pyyaml",
    "openapi-spec-validator",
    "openapi-schema-validator",
    "jsonschema",
    "cfn-lint",
    "sympy",
    "docker",
    "aws-xray-sdk",
}
# A venv comes with these before anything is installed.
VENV_BASE = {"pip", "setuptools"}


def _make_dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands `make <target>` would run in a fresh clone (no venv yet)."""
    for name in ("Makefile", "pyproject.toml", "policies/requirements-checkov.txt"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    done = subprocess.run(
        ["make", "-n", target], cwd=tmp_path, capture_output=True, text=True, check=True
    )
    return done.stdout.splitlines()


def _installed_extras(lines: list[str]) -> list[set[str]]:
    """The extras of every `pip install -e ".[a,b]"` among the commands."""
    found = []
    for line in lines:
        if "pip install" in line and (m := re.search(r"-e\s+\"?\.\[([^\]]*)\]", line)):
            found.append({e.strip() for e in m.group(1).split(",")})
        elif re.search(r"pip install .*-e\s+\"?\.\"?(\s|$)", line):
            found.append(set())
    return found


def _project_requirements(extras: set[str]) -> list[Requirement]:
    """pyproject.toml's dependencies plus those of `extras`, self-references (`mediakit[x]`)
    expanded."""
    out = [Requirement(r) for r in PYPROJECT["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        for spec in PYPROJECT["optional-dependencies"][extra]:
            req = Requirement(spec)
            if canonicalize_name(req.name) == "mediakit":
                todo.extend(req.extras)
            else:
                out.append(req)
    return out


def _closure(roots: list[Requirement]) -> set[str]:
    """Every distribution pip installs for `roots` (names canonical), from the installed
    metadata of each: their requirements, markers evaluated for this interpreter."""
    names: set[str] = set()
    seen: set[tuple[str, frozenset[str]]] = set()
    todo = list(roots)
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        key = (name, frozenset(req.extras))
        if key in seen:
            continue
        seen.add(key)
        names.add(name)
        try:
            requires = importlib.metadata.requires(req.name) or []
        except importlib.metadata.PackageNotFoundError:
            continue  # not installed here: nothing to follow (the name itself still counts)
        for spec in requires:
            sub = Requirement(spec)
            wanted = sub.marker is None or any(
                sub.marker.evaluate({**default_environment(), "extra": extra})
                for extra in ("", *req.extras)
            )
            if wanted:
                todo.append(sub)
    return names


def _demo_set(tmp_path: Path) -> set[str]:
    installs = _installed_extras(_make_dry_run("demo", tmp_path))
    assert installs, "make demo installs nothing"
    extras = set().union(*installs)
    return _closure(_project_requirements(extras)) | {"mediakit"}


def test_make_demo_installs_only_the_demo_extra(tmp_path: Path) -> None:
    # GIVEN a fresh clone WHEN `make demo` runs (dry run) THEN it installs the `demo` extra
    # alone, and nothing in what that pulls in is a dev, test or bench tool
    assert _installed_extras(_make_dry_run("demo", tmp_path)) == [{"demo"}]
    assert _demo_set(tmp_path) & NOT_FOR_THE_DEMO == set()


@pytest.mark.parametrize(
    ("target", "extra"), [("unit", "dev"), ("lint", "dev"), ("bench", "bench")]
)
def test_test_and_bench_install_their_own_extra_which_includes_the_demo(
    target: str, extra: str, tmp_path: Path
) -> None:
    # GIVEN a fresh clone WHEN `make <target>` runs (dry run) THEN it installs its own extra,
    # and that extra includes the demo's (the tests run the demo; the benches make its samples)
    assert _installed_extras(_make_dry_run(target, tmp_path)) == [{extra}]
    demo = {canonicalize_name(r.name) for r in _project_requirements({"demo"})}
    assert demo <= {canonicalize_name(r.name) for r in _project_requirements({extra})}


def test_the_lambda_functions_need_nothing_outside_the_demo_set(tmp_path: Path) -> None:
    # GIVEN the demo's install set WHEN each function's artifact requirements are read THEN the
    # demo has them all: the emulator's function workers (other processes) import only those
    demo = _demo_set(tmp_path)
    for function in artifact.FUNCTIONS:
        names = {canonicalize_name(Requirement(r).name) for r in artifact.requirements(function)}
        assert names <= demo, (function, names - demo)


# Run before the demo in its process: every import of a module whose installed distributions
# are all outside the demo's install set fails as it would in a venv made by `make demo`.
_ONLY_THE_DEMO_SET = r"""
import importlib.abc, importlib.metadata, re, sys
allowed = set(sys.argv[1].split(","))
out = sys.argv[2]
owners = importlib.metadata.packages_distributions()
canonical = lambda n: re.sub(r"[-_.]+", "-", n).lower()

class NotInstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        dists = {canonical(d) for d in owners.get(top, ())}
        if dists and not dists & allowed:
            sys.stderr.write(f"blocked import: {name} ({', '.join(sorted(dists))})\n")
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, NotInstalled())
sys.argv = ["mediakit", "demo", "--out", out, "--no-keep-running"]
from mediakit.cli import main
main()
"""


@pytest.mark.slow
def test_the_demo_runs_with_only_its_install_set(tmp_path: Path) -> None:
    # GIVEN this venv with everything outside the demo's install set made unimportable
    allowed = _demo_set(tmp_path / "clone") | VENV_BASE
    # WHEN the demo runs (in a process of its own)
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _ONLY_THE_DEMO_SET,
            ",".join(sorted(allowed)),
            str(tmp_path / "out"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
        env={k: v for k, v in os.environ.items() if not k.startswith("MEDIAKIT_")},
    )
    # THEN it passes: every sample behaved as expected with only what `make demo` installs
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "demo OK" in done.stdout
    assert "Traceback" not in output


# One path per .gitignore entry, as the commands create them (globs filled in). Entries anchored
# at the root (`/outputs.json`) are files the README has users make themselves: clean keeps them.
def _ignored_paths() -> list[str]:
    entries = [
        line.strip()
        for line in (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith(("#", "/"))
    ]
    paths = []
    for entry in entries:
        path = entry.rstrip("/").replace("*", "mediakit")
        paths.append(f"runtime/{path}" if entry in ("__pycache__/", "*.pyc") else path)
    return paths


def test_make_clean_removes_everything_the_commands_write(tmp_path: Path) -> None:
    # GIVEN a checkout where every command has run: every ignored path exists, plus what the
    # commands write (.mediakit's env file, dist/'s zips, results/'s SARIF, demo-out/)
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    (tmp_path / "runtime").mkdir()
    (tmp_path / "runtime" / "api.py").write_text("# tracked\n")
    written = [
        *_ignored_paths(),
        ".mediakit/dev.json",
        ".mediakit/uploads/x.json",
        "dist/presign.zip",
        "results/dev.sarif",
        "demo-out/contact-sheet.png",
    ]
    for rel in written:
        path = tmp_path / rel
        if path.suffix:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
        else:
            path.mkdir(parents=True, exist_ok=True)
            (path / "f").write_bytes(b"x")
    # WHEN `make clean` runs
    subprocess.run(["make", "clean"], cwd=tmp_path, capture_output=True, check=True)
    # THEN none of it is left, and the tracked file is
    left = sorted(rel for rel in written if (tmp_path / rel).exists())
    assert left == []
    assert (tmp_path / "runtime" / "api.py").is_file()


def test_the_install_prints_no_deprecation_of_ours() -> None:
    # GIVEN pyproject.toml WHEN pip builds the editable install of `make demo` THEN setuptools
    # has nothing to warn about: a TOML-table licence printed a 12-line BuildBackendWarning box
    # four times into a newcomer's first command (an SPDX string needs setuptools >= 77)
    assert isinstance(PYPROJECT["license"], str)
    build = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["build-system"]
    assert build["requires"] == ["setuptools>=77"]
