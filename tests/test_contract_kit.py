"""The contract kit catches the mistakes plugin authors make (tests/plugins/broken_plugins.py), each with a message
that names the plugin and the cause, and it is what a plugin author runs: pytest with automl's pytest plugin."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from automl.errors import HyperparameterError
from automl.plugin import Architecture

BROKEN = Path(__file__).parent / "plugins"

# plugin class -> (contract suite, the test that must fail, words its message must contain)
EXPECTED = {
    "FeatureMapNet": ("ArchitectureContract", "test_returns_one_feature_vector_per_sample[image]",
                      ["architecture 'feature_map_net'", "rank-4 tensor", "GlobalAveragePooling2D"]),
    "IgnoredKernelNet": ("ArchitectureContract", "test_every_hyperparameter_changes_what_is_built",
                         ["architecture 'ignored_kernel_net'", "'ignored_kernel_net.kernel_size'", "tried 5"]),
    "UnseededDropoutNet": ("ArchitectureContract", "test_random_layers_are_seeded",
                           ["architecture 'unseeded_dropout_net'", "(Dropout)", "seed=None", "seed=context.seed"]),
    "RandomWidthNet": ("ArchitectureContract", "test_network_shape_does_not_depend_on_the_seed",
                       ["architecture 'random_width_net'", "different networks under seeds", "Dense units=",
                        "not Python's random"]),
    "ActiveAtInference": ("AugmentationContract", "test_keeps_shape_and_is_inactive_at_inference[image]",
                          ["augmentation 'active_at_inference'", "changes inputs at inference"]),
    "UnseededFlip": ("AugmentationContract", "test_random_layers_are_seeded",
                     ["augmentation 'unseeded_flip'", "(RandomFlip)", "seed=None"]),
    "FixedRateAdam": ("OptimizerContract", "test_honours_a_narrowed_learning_rate_range",
                      ["optimizer 'fixed_rate_adam'", "narrowed to", "peaks at 0.001"]),
    "TypoLogger": ("LoggerContract", "test_hook_methods_are_known_and_marked",
                   ["logger 'typo_logger'", "automl_trial_epochs is not a lifecycle hook"]),
    "UnmarkedLogger": ("LoggerContract", "test_hook_methods_are_known_and_marked",
                       ["logger 'unmarked_logger'", "automl_trial_epoch lacks @automl.hookimpl"]),
    "RaisingLogger": ("LoggerContract", "test_receives_a_whole_run",
                      ["logger 'raising_logger'", "raised in automl_trial_finished (trial 2)", "KeyError"]),
}


@pytest.fixture(scope="module")
def kit_run(tmp_path_factory) -> dict[str, dict[str, str]]:
    """The contract suites of every broken plugin, run as an author runs them: ``pytest`` in a fresh process.
    Returns ``{class name: {test name: failure message}}`` for the tests that failed."""
    folder = tmp_path_factory.mktemp("kit")
    suites = "\n\n".join(f"class Test{name}({suite}):\n    plugin = broken_plugins.{name}()"
                         for name, (suite, _, _) in EXPECTED.items())
    (folder / "test_broken.py").write_text(
        "import broken_plugins\n"
        "from automl.testing import ArchitectureContract, AugmentationContract, LoggerContract, OptimizerContract\n\n\n"
        + suites + "\n")
    report = folder / "report.xml"
    env = {**os.environ, "PYTHONPATH": str(BROKEN)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={report}",
                           "test_broken.py"], cwd=folder, env=env, capture_output=True, text=True, timeout=900)
    assert report.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    failed: dict[str, dict[str, str]] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        failure = case.find("failure")
        if failure is not None:
            cls = case.get("classname").rsplit(".", 1)[-1].removeprefix("Test")
            failed.setdefault(cls, {})[case.get("name")] = (failure.get("message") or "") + (failure.text or "")
    return failed


@pytest.mark.parametrize("plugin_class", list(EXPECTED))
def test_each_mistake_fails_the_kit_with_a_message_naming_it(kit_run, plugin_class):
    _, test_name, words = EXPECTED[plugin_class]
    failures = kit_run.get(plugin_class, {})
    assert test_name in failures, f"{plugin_class} passed {test_name}; it failed only {sorted(failures)}"
    message = " ".join(failures[test_name].split())
    for word in words:
        assert word in message, f"{word!r} not in the message of {test_name}:\n{message[:2000]}"


def test_the_mistakes_fail_only_where_they_are():
    """A broken plugin is otherwise sound: it fails its own check, not everything (else the messages above
    would be noise). Checked in-process on one of them, cheaply."""
    import broken_plugins  # tests/plugins is on sys.path through the fixture below

    from automl.testing import ArchitectureContract

    class Suite(ArchitectureContract):
        plugin = broken_plugins.IgnoredKernelNet()

    suite = Suite()
    suite.test_returns_one_feature_vector_per_sample("image")
    suite.test_random_layers_are_seeded()
    suite.test_network_shape_does_not_depend_on_the_seed()
    with pytest.raises(AssertionError, match="kernel_size"):
        suite.test_every_hyperparameter_changes_what_is_built()


@pytest.fixture(autouse=True)
def _broken_plugins_importable(monkeypatch):
    monkeypatch.syspath_prepend(str(BROKEN))


def test_training_only_exempts_a_parameter_the_training_loop_reads():
    import broken_plugins

    from automl.testing import ArchitectureContract

    class Declared(broken_plugins.IgnoredKernelNet):
        training_only = ("kernel_size",)

    class Suite(ArchitectureContract):
        plugin = Declared()

    Suite().test_every_hyperparameter_changes_what_is_built()

    class Misspelt(broken_plugins.IgnoredKernelNet):
        training_only = ("kernelsize",)

    class MisspeltSuite(ArchitectureContract):
        plugin = Misspelt()

    with pytest.raises(AssertionError, match=r"\['kernelsize'\] in training_only"):
        MisspeltSuite().test_training_only_names_declared_hyperparameters()


def test_a_conditional_parameter_is_judged_where_it_exists():
    """``units`` exists only when ``head`` is "dense": the sweep finds its effect there, not at the defaults."""
    from automl.testing import ArchitectureContract

    class Conditional(Architecture):
        name = "conditional"
        tasks = ("tabular",)

        def space(self, hp):
            params = {"head": hp.choice("head", ["none", "dense"], default="none")}
            if params["head"] == "dense":
                params["units"] = hp.int("units", 8, 64, default=16)
            return params

        def build(self, inputs, params, context):
            from keras import layers

            return layers.Dense(params["units"])(inputs) if params["head"] == "dense" else inputs

    class Suite(ArchitectureContract):
        plugin = Conditional()
        random_configurations = 3

    Suite().test_every_hyperparameter_changes_what_is_built()


def test_invalid_values_are_still_rejected_by_name():
    import broken_plugins

    from automl.hp import FixedDriver, PluginHP

    with pytest.raises(HyperparameterError, match=r"ignored_kernel_net\.kernel_size must be one of \[3, 5\]"):
        broken_plugins.IgnoredKernelNet().space(PluginHP("ignored_kernel_net", FixedDriver(
            {"ignored_kernel_net.filters": 8, "ignored_kernel_net.kernel_size": 4})))


def test_pytest_loads_automl_through_its_entry_point(tmp_path):
    """``pip install "automl[testing]"`` is all an author needs: pytest finds automl's plugin by itself, which
    provides the automl_registry fixture."""
    (tmp_path / "test_registry.py").write_text(textwrap.dedent("""\
        def test_builtins_are_there(automl_registry):
            assert automl_registry.get("architecture", "cnn").source == "built-in"
        """))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_registry.py"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout
