"""Glue 5.1's Python runtime rebuilt here: its provided modules at its pip, the bundle installed as Glue does.

Used by tests/test_glue_rehearsal.py (install the bundle, ``pip check``, run the entry script) and by
``make test-glue-runtime`` (the job's own tests on Glue's module versions)::

    .venv/bin/python tests/glue_runtime.py job-tests

What Glue 5.1 provides is infra/glue-5.1-provided.txt (AWS's list, "Using Python libraries with AWS Glue":
https://docs.aws.amazon.com/glue/latest/dg/aws-glue-programming-python-libraries.html). Wheels come from
PyPI once and are kept in ``.cache/glue-5.1/wheelhouse`` (gitignored); every environment is then made
afresh from there with no index, as Glue installs the zip of wheels (``--no-index``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLUE_VERSION = "5.1"
# The pip Glue 5.1 installs --additional-python-modules with (Glue 5.0: 23.0.1).
GLUE_PIP = "24.0"
PROVIDED = ROOT / "infra" / f"glue-{GLUE_VERSION}-provided.txt"
CACHE = ROOT / ".cache" / f"glue-{GLUE_VERSION}"
WHEELHOUSE = CACHE / "wheelhouse"
BUNDLE_KEY = Path("wheels") / "genesys-etl.gluewheels.zip"
# Test tooling only, never part of the bundle: what tests/ needs to drive the job (versions from
# requirements-dev.txt, so both environments test with the same tools).
TEST_TOOLS = ("pytest", "pytest-timeout", "moto", "psycopg")
# The job's tests that run again on Glue's versions: transform, stage, the Redshift warehouse on
# PostgreSQL, the Glue entry script.
JOB_TESTS = (
    "tests/test_transform.py",
    "tests/test_stage.py",
    "tests/test_warehouse_postgres.py",
    "tests/test_glue_job.py",
)
_STEP_TIMEOUT_S = 900


class RuntimeSetupError(RuntimeError):
    """A step building the Glue-like environment failed; the message ends with the tool's last lines."""


def _run(command: Sequence[str | Path], *, timeout: float = _STEP_TIMEOUT_S) -> str:
    done = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, check=False, timeout=timeout
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
        msg = f"{' '.join(str(c) for c in command[:6])} … failed (exit {done.returncode}):\n{tail}"
        raise RuntimeSetupError(msg)
    return done.stdout


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def provided_names() -> set[str]:
    """Canonical names of the modules Glue provides."""
    lines = PROVIDED.read_text().splitlines()
    return {_canonical(line.split("==")[0]) for line in lines if "==" in line and not line.startswith("#")}


def dev_pins(names: Sequence[str]) -> list[str]:
    """The exact requirement lines of ``names`` in requirements-dev.txt (extras kept)."""
    wanted = {_canonical(name) for name in names}
    pins = []
    for line in (ROOT / "requirements-dev.txt").read_text().splitlines():
        text = line.split("#", 1)[0].strip()
        if text and not text.startswith("-") and _canonical(re.split(r"[\[=<>!~ ]", text)[0]) in wanted:
            pins.append(text)
    missing = wanted - {_canonical(re.split(r"[\[=<>!~ ]", pin)[0]) for pin in pins}
    assert not missing, f"requirements-dev.txt does not pin {sorted(missing)}"
    return pins


def fill_wheelhouse() -> Path:
    """Download (once) Glue's provided modules, its pip and the test tools for this interpreter.

    Returns:
        The wheelhouse folder.
    """
    requirements = [f"pip=={GLUE_PIP}", *dev_pins(TEST_TOOLS)]
    digest = hashlib.sha256((PROVIDED.read_text() + "\n".join(requirements)).encode()).hexdigest()[:16]
    stamp = WHEELHOUSE / f".complete-{digest}"
    if stamp.exists():
        return WHEELHOUSE
    WHEELHOUSE.mkdir(parents=True, exist_ok=True)
    # Downloaded apart, then moved in file by file (atomic renames): a run reading the wheelhouse at the
    # same time never sees a half-written wheel.
    with tempfile.TemporaryDirectory(prefix="download-", dir=CACHE) as scratch:
        download = [sys.executable, "-m", "pip", "download", "--only-binary=:all:", "--dest", scratch]
        _run([*download, "--no-deps", "--requirement", PROVIDED])
        _run([*download, "--constraint", PROVIDED, *requirements])
        for wheel in Path(scratch).iterdir():
            wheel.replace(WHEELHOUSE / wheel.name)
    stamp.write_text("\n".join(requirements) + "\n")
    return WHEELHOUSE


def create_glue_venv(path: Path) -> Path:
    """A fresh Python 3.11 venv holding exactly Glue's provided modules, with Glue's pip.

    Args:
        path: the venv folder (replaced if present).

    Returns:
        The venv's python.
    """
    wheelhouse = fill_wheelhouse()
    shutil.rmtree(path, ignore_errors=True)
    _run([sys.executable, "-m", "venv", path])
    python = path / "bin" / "python"
    offline = ["-m", "pip", "install", "--quiet", "--no-index", "--find-links", wheelhouse]
    _run([python, *offline, f"pip=={GLUE_PIP}"])
    # --no-deps: the environment is Glue's list as AWS publishes it, nothing resolved on top of it.
    _run([python, *offline, "--no-deps", "--requirement", PROVIDED])
    return python


def install_bundle(python: Path, bundle: Path, workdir: Path) -> Path:
    """Install a zip of wheels the way the template tells Glue: ``--no-index`` from its wheels folder.

    Args:
        python: the environment's python.
        bundle: the ``.gluewheels.zip``.
        workdir: an empty folder to unpack it in.

    Returns:
        The bundle's ``wheels/requirements.txt``.
    """
    with zipfile.ZipFile(bundle) as archive:
        archive.extractall(workdir)
    wheels = workdir / "wheels"
    requirements = wheels / "requirements.txt"
    _run(
        [python, "-m", "pip", "install", "--quiet", "--no-index", "--find-links", wheels, "-r", requirements]
    )
    return requirements


def pip_check(python: Path) -> str:
    """Run ``pip check`` in the environment; raise with its output when any requirement is broken."""
    return _run([python, "-m", "pip", "check"])


def install_test_tools(python: Path, bundle_requirements: Path) -> None:
    """Add the test tools, constrained so that no provided or bundled version moves."""
    _run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-index",
            "--find-links",
            fill_wheelhouse(),
            "--constraint",
            PROVIDED,
            "--constraint",
            bundle_requirements,
            *dev_pins(TEST_TOOLS),
        ]
    )


def glue_environment(path: Path, bundle: Path) -> tuple[Path, Path]:
    """Glue's provided modules, then the bundle as Glue installs it, then ``pip check``.

    Args:
        path: the venv folder (replaced).
        bundle: the zip of wheels from ``scripts/deploy.py --build-only``.

    Returns:
        The venv's python and the bundle's requirements file.
    """
    python = create_glue_venv(path)
    unpacked = path.parent / f"{path.name}-bundle"
    shutil.rmtree(unpacked, ignore_errors=True)
    requirements = install_bundle(python, bundle, unpacked)
    pip_check(python)
    return python, requirements


def build_bundle(directory: Path) -> Path:
    """Run ``scripts/deploy.py --build-only DIR`` (no AWS call) and return the zip of wheels it wrote."""
    shutil.rmtree(directory, ignore_errors=True)
    _run([sys.executable, ROOT / "scripts" / "deploy.py", "--build-only", directory])
    return directory / BUNDLE_KEY


def run_job_tests(pytest_args: Sequence[str]) -> int:
    """The job's tests (``JOB_TESTS``) in an environment of Glue's provided modules plus the bundle."""
    CACHE.mkdir(parents=True, exist_ok=True)
    # A folder per run: two runs in one work tree may overlap.
    with tempfile.TemporaryDirectory(prefix="job-tests-", dir=CACHE) as scratch:
        bundle = build_bundle(Path(scratch) / "artifacts")
        python, requirements = glue_environment(Path(scratch) / "venv", bundle)
        install_test_tools(python, requirements)
        return _run_tests(python, pytest_args)


def _run_tests(python: Path, pytest_args: Sequence[str]) -> int:
    versions = _run(
        [
            python,
            "-c",
            "import numpy, pandas, pyarrow, boto3, urllib3; print(numpy.__version__, "
            "pandas.__version__, pyarrow.__version__, boto3.__version__, urllib3.__version__)",
        ]
    )
    print(
        f"Glue {GLUE_VERSION} environment (numpy pandas pyarrow boto3 urllib3): {versions.strip()}",
        flush=True,
    )
    command = [str(python), "-m", "pytest", "-p", "no:cacheprovider", *JOB_TESTS, *pytest_args]
    return subprocess.run(
        command, cwd=ROOT, check=False, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    ).returncode


def main(argv: Sequence[str]) -> int:
    """``job-tests [pytest args]``: run the job's tests on Glue's provided modules."""
    if not argv or argv[0] != "job-tests":
        print("usage: glue_runtime.py job-tests [pytest arguments]", file=sys.stderr)
        return 2
    try:
        return run_job_tests(argv[1:])
    except RuntimeSetupError as err:
        print(f"cannot build the Glue {GLUE_VERSION} environment: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
