"""``automl new-plugin``: the package it writes installs, passes its own contract test and is picked by a search."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from automl.errors import ConfigError
from automl.run_dir import RunDirectory
from automl.scaffold import SCAFFOLD_FAMILIES, new_plugin

AUTOML = [str(Path(sys.executable).with_name("automl"))]


def run(command: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"$ {' '.join(command)}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def install(package: Path, site: Path) -> None:
    """pip install the package (its pyproject.toml, setuptools, no download) into a --target folder."""
    run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(package)], cwd=package.parent, env=dict(os.environ))


def passed(done: subprocess.CompletedProcess) -> int:
    """The number of passed tests in pytest's closing line."""
    found = re.search(r"(\d+) passed", done.stdout.strip().splitlines()[-1])
    return int(found.group(1)) if found else 0


def site_env(site: Path) -> dict[str, str]:
    """An environment in which the installed package is visible and entry points are loaded, as after pip install."""
    env = {k: v for k, v in os.environ.items() if k not in ("AUTOML_DISABLE_PLUGIN_AUTOLOAD", "AUTOML_PLUGINS_DIR")}
    env["PYTHONPATH"] = str(site)
    return env


def test_new_architecture_plugin_installs_passes_its_contract_and_is_searched(tmp_path):
    done = run([*AUTOML, "new-plugin", "architecture", "foo", "--json"], cwd=tmp_path, env=dict(os.environ))
    written = json.loads(done.stdout)
    package = tmp_path / "foo"
    assert written["folder"] == "foo" and written["distribution"] == "automl-foo"
    assert set(written["files"]) == {"pyproject.toml", "README.md", "space.yaml", "src/automl_foo/__init__.py",
                                     "tests/test_contract.py"}
    site = tmp_path / "site"
    install(package, site)
    env = site_env(site)

    tested = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "foo"], cwd=tmp_path, env=env)
    assert passed(tested) >= 15, tested.stdout[-3000:]  # the contract suite and the entry-point test

    listed = json.loads(run([*AUTOML, "plugins", "--json"], cwd=tmp_path, env=env).stdout)
    foo = next(row for row in listed if row["name"] == "foo")
    assert foo["family"] == "architecture" and foo["source"] == "automl-foo==0.1.0"

    run([*AUTOML, "search", "builtin:digits", "--space", "foo/space.yaml", "--trials", "2", "--quiet",
         "--out", "runs/foo"], cwd=tmp_path, env=env)
    with open(RunDirectory(tmp_path / "runs" / "foo").leaderboard_csv) as handle:
        rows = {row["trial"]: row for row in csv.DictReader(handle)}
    assert len(rows) == 2 and {row["status"] for row in rows.values()} <= {"complete", "pruned"}
    first = rows["0"]  # the space's initial trial: the plugin at its defaults
    assert first["architecture"] == "foo" and first["status"] == "complete", first
    assert json.loads(first["plugin_versions"])["foo"] == "automl-foo==0.1.0"
    assert (first["foo.units"], first["foo.layers"]) == ("64", "2")  # integers stay integers in the CSV


def test_every_other_family_scaffold_installs_and_passes_its_contract_suite(tmp_path):
    site, folders = tmp_path / "site", []
    for family in SCAFFOLD_FAMILIES:
        if family == "architecture":  # installed, tested and searched above
            continue
        scaffold = new_plugin(family, f"my_{family}", tmp_path / f"my_{family}")
        assert (scaffold.folder / "space.yaml").exists() == (family != "logger")
        install(scaffold.folder, site)
        folders.append(scaffold.folder.name)
    # importlib mode: the three packages' tests/test_contract.py share a name.
    tested = run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--import-mode=importlib", *folders],
                 cwd=tmp_path, env=site_env(site))
    assert passed(tested) >= 3 * 8, tested.stdout[-3000:]  # run() checked the exit status: nothing failed


def test_refuses_a_bad_name_a_bad_family_and_a_folder_in_use(tmp_path):
    with pytest.raises(ConfigError, match=r"must match .*got 'Foo-Net'"):
        new_plugin("architecture", "Foo-Net", tmp_path / "a")
    with pytest.raises(ConfigError, match=r"one of the families architecture, augmentation, optimizer, logger; got "
                                          r"'sampler'"):
        new_plugin("sampler", "foo", tmp_path / "b")
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists and is not an empty folder"):
        new_plugin("architecture", "foo", used)
    assert (used / "notes.txt").read_text() == "mine" and sorted(p.name for p in used.iterdir()) == ["notes.txt"]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_cli_names_the_mistake_without_a_traceback(tmp_path):
    done = subprocess.run([*AUTOML, "new-plugin", "architecture", "9lives"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert "error: a plugin name must match" in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "9lives").exists()
