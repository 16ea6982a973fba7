"""Tests for automl.plugin_manager: entry points, local plugin files, autoload and blocking switches,
load problems, strict mode, duplicate and invalid names.

No mocks: a real third-party distribution is built and installed with pip (into a --target folder that is
put on sys.path / PYTHONPATH, so importlib.metadata finds its dist-info and entry point), plugin files are
written into tmp_path, and the CLI runs in real subprocesses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from automl.errors import AutomlError, DuplicatePluginError, PluginError
from automl.plugin_manager import (
    BUILTIN_SOURCE,
    ENV_DISABLE_AUTOLOAD,
    ENV_DISABLED_PLUGINS,
    ENV_PLUGINS_DIR,
    PLUGIN_NAME_RE,
    LoadProblem,
    build_registry,
)

REPO = Path(__file__).resolve().parents[1]
PLUGIN_ENV = (ENV_DISABLE_AUTOLOAD, ENV_DISABLED_PLUGINS, ENV_PLUGINS_DIR)

DIST_NAME = "automl-tinyarch"
DIST_VERSION = "0.1.0"
EP_NAME = "tinyarch"
MODULE = "automl_tinyarch"
TINY_SOURCE = f"{DIST_NAME}=={DIST_VERSION}"

TINY_PYPROJECT = f"""\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "{DIST_NAME}"
version = "{DIST_VERSION}"
description = "A one-layer architecture: a third-party automl plugin used by the tests."

[project.entry-points.automl]
{EP_NAME} = "{MODULE}"

[tool.setuptools]
py-modules = ["{MODULE}"]
"""

TINY_MODULE = '''\
"""A third-party automl plugin: one architecture named ``tiny``."""
from automl import Architecture, hookimpl


class Tiny(Architecture):
    name = "tiny"
    tasks = ("image", "tabular")
    description = "Flatten, then one dense layer."

    def space(self, hp):
        return {"units": hp.int("units", 2, 16, default=4)}

    def build(self, inputs, params, context):
        from keras import layers

        x = layers.Flatten()(inputs) if len(context.input_shape) > 1 else inputs
        return layers.Dense(params["units"], activation="relu", name="tiny_dense")(x)


@hookimpl
def automl_register_architectures():
    return [Tiny()]
'''

# A single-file plugin providing one object of each family (all three hooks).
MY_ARCH = '''\
from automl import Architecture, Augmentation, Optimizer, hookimpl


class MyArch(Architecture):
    name = "myarch"
    tasks = ("tabular",)

    def space(self, hp):
        return {"width": hp.int("width", 4, 8)}

    def build(self, inputs, params, context):
        from keras import layers
        return layers.Dense(params["width"])(inputs)


class MyAug(Augmentation):
    name = "myaug"

    def layers(self, params, context):
        return []


class MyOpt(Optimizer):
    name = "myopt"

    def space(self, hp):
        return {"learning_rate": hp.float("learning_rate", 1e-4, 1e-1, log=True)}

    def build(self, params, context):
        import keras
        return keras.optimizers.SGD(params["learning_rate"])


@hookimpl
def automl_register_architectures():
    return [MyArch()]


@hookimpl
def automl_register_augmentations():
    return [MyAug()]


@hookimpl
def automl_register_optimizers():
    return [MyOpt()]
'''


def _architecture_file(class_name: str, plugin_name: str, *, tasks: str = '("image", "tabular")',
                       returned: str | None = None) -> str:
    returned = returned if returned is not None else f"[{class_name}()]"
    return textwrap.dedent(f'''\
        from automl import Architecture, hookimpl


        class {class_name}(Architecture):
            name = {plugin_name!r}
            tasks = {tasks}

            def build(self, inputs, params, context):
                return inputs


        @hookimpl
        def automl_register_architectures():
            return {returned}
        ''')


# --- helpers -------------------------------------------------------------------------------------------
def clean_env(**updates: str) -> dict[str, str]:
    """The test process' environment without automl's plugin switches, plus ``updates``."""
    env = {k: v for k, v in os.environ.items() if k not in PLUGIN_ENV and k != "PYTHONPATH"}
    env.update(updates)
    return env


def automl_command() -> list[str]:
    script = Path(sys.executable).with_name("automl")
    return [str(script)] if script.exists() else [sys.executable, "-m", "automl"]


def run_automl(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*automl_command(), *args], env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def plugins_json(env: dict[str, str], cwd: Path, *args: str) -> list[dict]:
    result = run_automl("plugins", "--json", *args, env=env, cwd=cwd)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows}


def write_plugin(folder: Path, file_name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / file_name
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _no_plugin_env(monkeypatch):
    """Every test states the plugin switches it needs; none leak in from the calling shell."""
    for name in PLUGIN_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(ENV_DISABLE_AUTOLOAD, "1")  # conftest's default, restated


def pip_install_project(root: Path, pyproject: str, module_name: str, module_text: str) -> Path:
    """Build ``root/project`` with pip (setuptools, no build isolation: nothing is downloaded) and install
    it into ``root/site``; return the site folder."""
    project = root / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text(pyproject)
    (project / f"{module_name}.py").write_text(module_text)
    site = root / "site"
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation", "--no-index",
         "--disable-pip-version-check", "--target", str(site), str(project)],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, f"pip could not install the test distribution:\n{result.stdout}\n{result.stderr}"
    assert list(site.glob("*.dist-info/entry_points.txt")), sorted(p.name for p in site.iterdir())
    return site


@pytest.fixture(scope="module")
def tiny_site(tmp_path_factory) -> Path:
    """``automl-tinyarch`` built from its pyproject.toml by pip and installed into a --target folder."""
    return pip_install_project(tmp_path_factory.mktemp("tinyarch"), TINY_PYPROJECT, MODULE, TINY_MODULE)


@pytest.fixture
def tiny_on_path(tiny_site, monkeypatch):
    """The installed distribution visible in this process (as if pip had installed it here)."""
    monkeypatch.syspath_prepend(str(tiny_site))
    sys.modules.pop(MODULE, None)
    yield tiny_site
    sys.modules.pop(MODULE, None)


# --- third-party distribution (entry point) ------------------------------------------------------------
def test_entry_point_plugin_is_listed_by_the_cli_with_its_distribution(tiny_site, tmp_path):
    env = clean_env(PYTHONPATH=str(tiny_site))
    rows = by_name(plugins_json(env, tmp_path))
    assert "tiny" in rows, sorted(rows)
    tiny = rows["tiny"]
    assert tiny["family"] == "architecture"
    assert tiny["source"] == TINY_SOURCE
    assert tiny["version"] == DIST_VERSION
    assert tiny["tasks"] == ["image", "tabular"]
    assert tiny["hyperparameters"] == {"units": "int [2, 16]"}
    # built-ins are still there, and still say so
    assert rows["cnn"]["source"] == BUILTIN_SOURCE


def test_entry_point_plugin_is_not_listed_when_autoload_is_disabled(tiny_site, tmp_path):
    rows = by_name(plugins_json(clean_env(PYTHONPATH=str(tiny_site), **{ENV_DISABLE_AUTOLOAD: "1"}), tmp_path))
    assert "tiny" not in rows
    assert "cnn" in rows  # built-ins do not depend on autoload


def test_entry_point_plugin_builds_a_model(tiny_site, tmp_path):
    """The installed plugin goes through automl's own model assembly and produces one output per class."""
    script = textwrap.dedent("""\
        import json
        import numpy as np
        from automl.model import build_model, input_scaling
        from automl.plugin import BuildContext
        from automl.plugin_manager import build_registry
        from automl.search_space import Candidate

        registry = build_registry()
        entry = registry.get("architecture", "tiny")
        x = np.random.default_rng(0).uniform(size=(5, 6)).astype("float32")
        candidate = Candidate("tiny", "none", "adam", {"tiny.units": 7, "adam.learning_rate": 1e-3,
                              "adam.schedule": "constant"}, batch_size=4, max_epochs=1, patience=1)
        context = BuildContext("tabular", (6,), 3)
        model = build_model(candidate, registry, context, input_scaling("tabular", {}, x))
        print(json.dumps({"source": entry.source, "shape": list(model.predict(x, verbose=0).shape),
                          "units": model.get_layer("network").get_layer("tiny_dense").units}))
        """)
    env = clean_env(PYTHONPATH=str(tiny_site), TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out == {"source": TINY_SOURCE, "shape": [5, 3], "units": 7}


def test_autoload_argument_and_environment_switch(tiny_on_path, monkeypatch):
    # env says "disabled" (conftest default) and autoload follows it when not given
    assert "tiny" not in build_registry().names("architecture")
    assert "tiny" in build_registry(autoload=True).names("architecture")
    monkeypatch.delenv(ENV_DISABLE_AUTOLOAD)
    registry = build_registry()
    assert registry.get("architecture", "tiny").source == TINY_SOURCE
    assert registry.get("architecture", "tiny").version == DIST_VERSION
    assert "tiny" not in build_registry(autoload=False).names("architecture")
    monkeypatch.setenv(ENV_DISABLE_AUTOLOAD, "true")
    assert "tiny" not in build_registry().names("architecture")
    monkeypatch.setenv(ENV_DISABLE_AUTOLOAD, "0")
    assert "tiny" in build_registry().names("architecture")


def test_blocking_an_entry_point_by_name_never_imports_it(tiny_on_path, monkeypatch):
    monkeypatch.setenv(ENV_DISABLED_PLUGINS, f"something_else, {EP_NAME}")
    registry = build_registry(autoload=True)
    assert "tiny" not in registry.names("architecture")
    assert MODULE not in sys.modules, "a blocked plugin module must not be imported"
    assert registry.problems == []
    monkeypatch.delenv(ENV_DISABLED_PLUGINS)
    assert "tiny" not in build_registry(autoload=True, disabled=[EP_NAME]).names("architecture")
    assert "tiny" in build_registry(autoload=True).names("architecture")


def test_blocking_by_plugin_object_name(tiny_on_path, monkeypatch):
    monkeypatch.setenv(ENV_DISABLED_PLUGINS, "lion")
    registry = build_registry(autoload=False)
    assert "lion" not in registry.names("optimizer")
    assert "adam" in registry.names("optimizer")
    monkeypatch.delenv(ENV_DISABLED_PLUGINS)
    assert "lion" in build_registry(autoload=False).names("optimizer")
    registry = build_registry(autoload=True, disabled=["lion", "tiny"])
    assert "lion" not in registry.names("optimizer") and "tiny" not in registry.names("architecture")
    assert "adam" in registry.names("optimizer") and "cnn" in registry.names("architecture")


def test_cli_respects_disabled_plugins_env(tiny_site, tmp_path):
    rows = by_name(plugins_json(clean_env(PYTHONPATH=str(tiny_site), **{ENV_DISABLED_PLUGINS: f"{EP_NAME},lion"}),
                                tmp_path))
    assert "tiny" not in rows and "lion" not in rows
    assert "adam" in rows and "cnn" in rows


# --- local plugin files --------------------------------------------------------------------------------
def test_plugins_dir_loads_a_single_file_plugin(tmp_path):
    path = write_plugin(tmp_path / "plugins", "my_arch.py", MY_ARCH)
    registry = build_registry(plugins_dir=tmp_path / "plugins", autoload=False)
    expected_source = f"file:{path.resolve()}"
    for family, name in (("architecture", "myarch"), ("augmentation", "myaug"), ("optimizer", "myopt")):
        entry = registry.get(family, name)
        assert entry.source == expected_source
        assert entry.family == family
        assert entry.version == "local"
    assert registry.get("architecture", "cnn").source == BUILTIN_SOURCE
    assert registry.problems == []
    # without the folder, the plugin is not there
    assert "myarch" not in build_registry(autoload=False).names("architecture")


def test_plugins_dir_from_environment(tmp_path, monkeypatch):
    path = write_plugin(tmp_path / "env_plugins", "my_arch.py", MY_ARCH)
    monkeypatch.setenv(ENV_PLUGINS_DIR, str(tmp_path / "env_plugins"))
    registry = build_registry(autoload=False)
    assert registry.get("architecture", "myarch").source == f"file:{path.resolve()}"
    # an explicit argument wins over the environment
    other = write_plugin(tmp_path / "other", "other_arch.py", _architecture_file("Other", "otherarch"))
    registry = build_registry(plugins_dir=tmp_path / "other", autoload=False)
    assert registry.get("architecture", "otherarch").source == f"file:{other.resolve()}"
    assert "myarch" not in registry.names("architecture")


def test_cli_plugins_dir_option_and_environment(tmp_path):
    path = write_plugin(tmp_path / "local", "my_arch.py", MY_ARCH)
    rows = by_name(plugins_json(clean_env(), tmp_path, "--plugins-dir", str(tmp_path / "local")))
    assert rows["myarch"]["source"] == f"file:{path.resolve()}"
    assert rows["myarch"]["family"] == "architecture"
    assert rows["myarch"]["tasks"] == ["tabular"]
    assert rows["myopt"]["family"] == "optimizer"
    rows = by_name(plugins_json(clean_env(**{ENV_PLUGINS_DIR: str(tmp_path / "local")}), tmp_path))
    assert rows["myaug"]["source"] == f"file:{path.resolve()}"
    assert "myarch" not in by_name(plugins_json(clean_env(), tmp_path))


def test_plugins_dir_skips_private_files_and_blocked_files(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "_helpers.py", "raise RuntimeError('private files must not be imported')\n")
    write_plugin(folder, "my_arch.py", MY_ARCH)
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert registry.problems == []
    assert "myarch" in registry.names("architecture")
    sys.modules.pop("automl_local_plugins.my_arch", None)
    registry = build_registry(plugins_dir=folder, autoload=False, disabled=["my_arch"])
    assert "myarch" not in registry.names("architecture") and "myopt" not in registry.names("optimizer")
    assert "automl_local_plugins.my_arch" not in sys.modules


def test_missing_plugins_dir_is_an_error(tmp_path):
    with pytest.raises(PluginError, match="does-not-exist"):
        build_registry(plugins_dir=tmp_path / "does-not-exist", autoload=False)
    result = run_automl("plugins", "--plugins-dir", str(tmp_path / "does-not-exist"), env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ") and "Traceback" not in result.stderr


# --- load problems and strict mode ---------------------------------------------------------------------
def test_import_failure_is_reported_and_other_plugins_still_load(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "broken.py", "import automl\nraise RuntimeError('broken on purpose at import')\n")
    write_plugin(folder, "missing_dep.py", "import automl_no_such_module_xyz\n")
    write_plugin(folder, "my_arch.py", MY_ARCH)
    registry = build_registry(plugins_dir=folder, autoload=False)
    problems = {p.name: p for p in registry.problems}
    assert set(problems) == {"broken", "missing_dep"}
    assert isinstance(problems["broken"], LoadProblem)
    assert "RuntimeError" in problems["broken"].error and "broken on purpose" in problems["broken"].error
    assert "broken.py" in problems["broken"].error  # where it failed
    assert "ModuleNotFoundError" in problems["missing_dep"].error
    assert "automl_no_such_module_xyz" in problems["missing_dep"].error
    assert "'broken'" in str(problems["broken"]) and "skipped" in str(problems["broken"])
    assert "myarch" in registry.names("architecture") and "cnn" in registry.names("architecture")
    assert "automl_local_plugins.broken" not in sys.modules


def test_strict_mode_makes_a_load_problem_fatal(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "broken.py", "raise ImportError('needs a library that is not installed')\n")
    with pytest.raises(PluginError, match=r"'broken'.*ImportError.*not installed"):
        build_registry(plugins_dir=folder, autoload=False, strict=True)


def test_cli_warns_about_problems_and_fails_with_strict_plugins(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "broken.py", "raise RuntimeError('broken on purpose')\n")
    write_plugin(folder, "my_arch.py", MY_ARCH)
    result = run_automl("plugins", "--json", "--plugins-dir", str(folder), env=clean_env(), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "myarch" in by_name(json.loads(result.stdout))
    assert "warning:" in result.stderr and "'broken'" in result.stderr and "broken on purpose" in result.stderr
    result = run_automl("plugins", "--plugins-dir", str(folder), "--strict-plugins", env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr and "'broken'" in result.stderr
    assert "Traceback" not in result.stderr


def test_entry_point_import_failure_is_a_problem(tmp_path, monkeypatch):
    """A distribution whose entry point cannot be imported is reported, not fatal (unless strict)."""
    pyproject = TINY_PYPROJECT.replace(DIST_NAME, "automl-brokendist").replace(
        f'{EP_NAME} = "{MODULE}"', 'brokenep = "automl_brokendist_mod"').replace(MODULE, "automl_brokendist_mod")
    site = pip_install_project(tmp_path, pyproject, "automl_brokendist_mod",
                               "raise RuntimeError('entry point module explodes')\n")
    monkeypatch.syspath_prepend(str(site))
    registry = build_registry(autoload=True)
    assert [(p.name, "entry point module explodes" in p.error) for p in registry.problems] == [("brokenep", True)]
    assert "cnn" in registry.names("architecture")
    with pytest.raises(PluginError, match="brokenep"):
        build_registry(autoload=True, strict=True)
    assert build_registry(autoload=True, disabled=["brokenep"]).problems == []
    assert build_registry(autoload=False).problems == []


@pytest.mark.parametrize(
    ("returned", "expected"),
    [
        ('["not a plugin"]', "expected instances of automl.Architecture"),
        ('{"name": "x"}', "must return a list"),
        ("[Helper(), object()]", "expected instances of automl.Architecture"),
    ],
)
def test_hook_returning_non_plugin_objects_is_a_problem(tmp_path, returned, expected):
    folder = tmp_path / "plugins"
    write_plugin(folder, "weird.py", _architecture_file("Helper", "helper", returned=returned))
    write_plugin(folder, "my_arch.py", MY_ARCH)
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert [p.name for p in registry.problems] == ["weird"]
    assert expected in registry.problems[0].error
    assert "automl_register_architectures" in registry.problems[0].error
    assert "helper" not in registry.names("architecture")  # nothing of a bad batch is half-registered
    assert "myarch" in registry.names("architecture")
    with pytest.raises(PluginError, match="weird"):
        build_registry(plugins_dir=folder, autoload=False, strict=True)


def test_object_of_the_wrong_family_is_a_problem(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "wrongfam.py", textwrap.dedent('''\
        from automl import Augmentation, hookimpl

        class A(Augmentation):
            name = "wrongfam"
            def layers(self, params, context):
                return []

        @hookimpl
        def automl_register_optimizers():
            return [A()]
        '''))
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert [p.name for p in registry.problems] == ["wrongfam"]
    assert "automl.Optimizer" in registry.problems[0].error
    assert "wrongfam" not in registry.names("optimizer") and "wrongfam" not in registry.names("augmentation")


def test_hook_raising_is_a_problem(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "raiser.py", textwrap.dedent('''\
        from automl import hookimpl

        @hookimpl
        def automl_register_augmentations():
            raise ValueError("cannot list augmentations today")
        '''))
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert [p.name for p in registry.problems] == ["raiser"]
    assert "ValueError" in registry.problems[0].error and "cannot list augmentations today" in registry.problems[0].error
    assert "flip" in registry.names("augmentation")


@pytest.mark.parametrize("bad_name", ["Bad Name", "cnn-2", "2cnn", "", "UPPER"])
def test_invalid_plugin_name_is_a_problem_that_states_the_rule(tmp_path, bad_name):
    assert not PLUGIN_NAME_RE.match(bad_name)
    folder = tmp_path / "plugins"
    write_plugin(folder, "badname.py", _architecture_file("BadName", bad_name))
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert [p.name for p in registry.problems] == ["badname"]
    error = registry.problems[0].error
    assert repr(bad_name) in error
    assert PLUGIN_NAME_RE.pattern in error and "lowercase letters, digits, underscores" in error
    assert bad_name not in registry.names("architecture")


def test_unknown_task_is_a_problem(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "audio.py", _architecture_file("Audio", "audio", tasks='("audio",)'))
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert [p.name for p in registry.problems] == ["audio"]
    assert "'audio'" in registry.problems[0].error and "image" in registry.problems[0].error


def test_hookimpl_with_a_bad_signature_is_a_problem(tmp_path):
    folder = tmp_path / "plugins"
    write_plugin(folder, "badsig.py", textwrap.dedent('''\
        from automl import hookimpl

        @hookimpl
        def automl_register_architectures(config):
            return []
        '''))
    write_plugin(folder, "my_arch.py", MY_ARCH)
    registry = build_registry(plugins_dir=folder, autoload=False)
    assert [p.name for p in registry.problems] == ["badsig"]
    assert "myarch" in registry.names("architecture")


# --- duplicates ----------------------------------------------------------------------------------------
def test_duplicate_of_a_builtin_names_both_sources(tmp_path):
    path = write_plugin(tmp_path / "plugins", "my_cnn.py", _architecture_file("MyCNN", "cnn"))
    with pytest.raises(DuplicatePluginError) as info:
        build_registry(plugins_dir=tmp_path / "plugins", autoload=False)
    message = str(info.value)
    assert "'cnn'" in message
    assert BUILTIN_SOURCE in message
    assert str(path.resolve()) in message
    assert "AUTOML_DISABLED_PLUGINS" in message  # says how to fix it
    assert isinstance(info.value, AutomlError)


def test_duplicate_between_two_files_names_both_files(tmp_path):
    folder = tmp_path / "plugins"
    first = write_plugin(folder, "first.py", _architecture_file("One", "samename"))
    second = write_plugin(folder, "second.py", _architecture_file("Two", "samename"))
    with pytest.raises(DuplicatePluginError) as info:
        build_registry(plugins_dir=folder, autoload=False)
    assert str(first.resolve()) in str(info.value) and str(second.resolve()) in str(info.value)
    # blocking the object name resolves the clash
    assert "samename" not in build_registry(plugins_dir=folder, autoload=False, disabled=["samename"]).names(
        "architecture")


def test_duplicate_is_fatal_in_the_cli_without_traceback(tmp_path):
    write_plugin(tmp_path / "plugins", "my_cnn.py", _architecture_file("MyCNN", "cnn"))
    result = run_automl("plugins", "--plugins-dir", str(tmp_path / "plugins"), env=clean_env(), cwd=tmp_path)
    assert result.returncode == 2
    assert "error:" in result.stderr and "built-in" in result.stderr and "my_cnn.py" in result.stderr
    assert "Traceback" not in result.stderr


def test_plugin_file_named_like_a_builtin_module_loads_beside_it(tmp_path):
    # Built-ins are registered under their dotted module names, so a file called optimizers.py cannot clash.
    write_plugin(tmp_path / "plugins", "optimizers.py", MY_ARCH.replace("myarch", "otherarch")
                 .replace("myaug", "otheraug").replace("myopt", "otheropt"))
    registry = build_registry(plugins_dir=tmp_path / "plugins", autoload=False)
    assert registry.get("architecture", "otherarch").source.startswith("file:")
    assert registry.get("optimizer", "adam").source == "built-in"
