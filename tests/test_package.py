"""The built package: a wheel (what `pip install .` installs) holds every shipped model, not only the editable tree."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from tests.conftest import ROOT


def _files_in_the_tree() -> list[str]:
    """What a clone holds: tracked files and new ones git does not ignore."""
    command = ["git", "ls-files", "--cached", "--others", "--exclude-standard"]
    listed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    return [name for name in listed.stdout.splitlines() if (ROOT / name).is_file()]


def test_the_wheel_holds_every_shipped_model(tmp_path):
    source = tmp_path / "source"  # a copy, so the build leaves nothing in the checkout
    for name in _files_in_the_tree():
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("corpus_assistant-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = [Path(name) for name in _files_in_the_tree() if name.startswith("assistant/models/")]
    assert {path.parent.name for path in shipped} >= {"reader", "span_reader"}
    missing = [str(path) for path in shipped if path.as_posix() not in names]
    assert not missing, f"not in {wheel.name}: {missing}"
