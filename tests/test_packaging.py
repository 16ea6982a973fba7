"""The wheel: its layout, and what it does installed (not editable) into a fresh virtual environment.

Kept lean: one wheel build and one venv per session (module fixture). The new venv is created without pip
(the test interpreter's pip installs into it with ``--python``) and reaches the heavy dependencies already
installed here through a ``.pth`` line naming this interpreter's site-packages. Plain path lines of a
``.pth`` file are only appended to ``sys.path``; ``.pth`` files *inside* that folder — such as the editable
finder of the development install — are not processed, so the editable ``automl`` cannot leak in. The
tests assert that, instead of assuming it.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from pathlib import Path

import pytest

from automl.plugin_manager import BUILTIN_SOURCE, build_registry

REPO = Path(__file__).resolve().parents[1]
SHIPPED_SPACES = ("quick", "image_default", "tabular_default")
# what .gitignore keeps out of the repository, plus the repository's own metadata
COPY_IGNORE = shutil.ignore_patterns(".git", ".venv", "venv", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", "runs", "out")


def _setuptools_is_new_enough() -> bool:
    """pyproject.toml needs setuptools>=77 (SPDX ``license``); build without isolation only if we have it."""
    try:
        major = int(importlib.metadata.version("setuptools").split(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return False
    return major >= 77


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, (
        f"{' '.join(map(str, command))} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of a snapshot of the repository (so nothing is written into the working tree)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=COPY_IGNORE)
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-w",
               str(root / "dist"), str(source)]
    if _setuptools_is_new_enough():
        command.insert(4, "--no-build-isolation")  # fully offline
    _run(command)
    wheels = list((root / "dist").glob("automl-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict[str, Path]:
    """A fresh venv with the wheel installed normally (not editable)."""
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)])
    python = env_dir / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
          "--disable-pip-version-check", str(wheel)])
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())
    outer = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "zz_outer_dependencies.pth").write_text("".join(f"{path}\n" for path in outer))
    workdir = root / "work"  # not the repository: its plugins/ and search_spaces/ folders must not be importable
    workdir.mkdir()
    return {"python": python, "automl": env_dir / "bin" / "automl", "site": site, "cwd": workdir}


def venv_env() -> dict[str, str]:
    drop = {"AUTOML_DISABLE_PLUGIN_AUTOLOAD", "AUTOML_DISABLED_PLUGINS", "AUTOML_PLUGINS_DIR", "PYTHONPATH",
            "PYTHONHOME", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k not in drop}


def test_wheel_has_only_namespaced_top_level_packages(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/", 1)[0] for name in names}
    dist_info = {t for t in top_level if t.endswith(".dist-info")}
    assert len(dist_info) == 1 and re.fullmatch(r"automl-[0-9][^/]*\.dist-info", dist_info.pop())
    assert top_level - {t for t in top_level if t.endswith(".dist-info")} == {
        "automl", "automl_plugins", "automl_search_spaces"}
    assert "plugins" not in top_level and "search_spaces" not in top_level and "tests" not in top_level
    for module in ("architectures", "augmentations", "optimizers"):
        assert f"automl_plugins/{module}.py" in names
    for space in SHIPPED_SPACES:
        assert f"automl_search_spaces/{space}.yaml" in names
    assert "automl/hookspecs.py" in names and "automl/testing/contract.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "automl = automl.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_installed_package_is_the_wheel_not_the_editable_checkout(venv):
    script = textwrap.dedent("""\
        import importlib.util, json, sys
        import automl, automl_plugins, automl_search_spaces
        from automl.search_space import builtin_spaces
        print(json.dumps({
            "files": [automl.__file__, automl_plugins.__file__, automl_search_spaces.__file__],
            "spaces": sorted(builtin_spaces()),
            "editable_finder": any("__editable__" in name for name in sys.modules),
            "plugins_importable": importlib.util.find_spec("plugins") is not None,
            "search_spaces_importable": importlib.util.find_spec("search_spaces") is not None,
        }))
        """)
    result = _run([str(venv["python"]), "-c", script], env=venv_env(), cwd=venv["cwd"])
    out = json.loads(result.stdout.strip().splitlines()[-1])
    for file in out["files"]:
        assert Path(file).is_relative_to(venv["site"]), f"{file} is not inside the new venv's site-packages"
    assert out["editable_finder"] is False
    assert out["plugins_importable"] is False and out["search_spaces_importable"] is False
    assert set(SHIPPED_SPACES) <= set(out["spaces"])


def test_installed_cli_lists_the_builtin_plugins(venv):
    result = _run([str(venv["automl"]), "plugins", "--json"], env=venv_env(), cwd=venv["cwd"])
    rows = json.loads(result.stdout)
    builtin = [row for row in rows if row["source"] == BUILTIN_SOURCE]
    count = {family: sum(row["family"] == family for row in builtin)
             for family in ("architecture", "augmentation", "optimizer")}
    assert count["architecture"] >= 4 and count["augmentation"] >= 6 and count["optimizer"] >= 5, count
    # every built-in of this checkout is there, and says it is built in
    expected = {entry.name: entry.family for entry in build_registry(autoload=False).all_entries()}
    listed = {row["name"]: row for row in rows}
    for name, family in expected.items():
        assert name in listed, f"built-in {name} missing from the installed wheel"
        assert listed[name]["family"] == family and listed[name]["source"] == BUILTIN_SOURCE
    assert "warning:" not in result.stderr


def test_installed_cli_lists_the_shipped_spaces(venv):
    result = _run([str(venv["automl"]), "spaces"], env=venv_env(), cwd=venv["cwd"])
    assert set(SHIPPED_SPACES) <= {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
