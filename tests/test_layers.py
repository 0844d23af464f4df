"""Imports point down the layers of .importlinter; an upward import, planted in a copy, is named by its line."""
import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT

CHECK = os.path.join(ROOT, "scripts", "check_layers.py")


def check(project):
    return subprocess.run([sys.executable, CHECK, str(project)], capture_output=True, text=True)


def python_copy(tmp_path):
    """The project's Python files and .importlinter, without its data, venvs or runs."""
    dest = tmp_path / "project"
    shutil.copytree(ROOT, dest, ignore=lambda d, names: [n for n in names if n.startswith(".") and n != ".importlinter"
                                                         or n in ("docs", "benchmarks", "scripts", "tests", "models")
                                                         or os.path.isfile(os.path.join(d, n))
                                                         and not n.endswith(".py") and n != ".importlinter"])
    return dest


def test_the_project_keeps_its_layers():
    result = check(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("planted_in, line, expected", [
    ("runtime/file_lock.py", "from args import InputError\n", "runtime.file_lock -> args"),
    ("tasks/metrics.py", "import data\n", "tasks.metrics -> data"),
    ("data.py", "from training import inputs\n", "data.py:"),
    ("errors.py", "import kd_loss\n", "errors imports kd_loss"),
])
def test_an_upward_import_is_named(tmp_path, planted_in, line, expected):
    project = python_copy(tmp_path)
    with open(project / planted_in, "a") as f:
        f.write(line)
    result = check(project)
    assert result.returncode == 1
    assert expected in result.stdout, result.stdout
