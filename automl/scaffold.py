"""``automl new-plugin FAMILY NAME``: a plugin package to start from.

The package installs with pip, registers its plugin through an entry point in the group ``automl``, passes
its contract suite (``pytest``) and is picked by a search with the space it ships (``space.yaml``). The
plugin it holds is a small, working example of its family that follows every rule of the contract kit, so an
author edits a passing package instead of starting from a blank page. Nothing is written unless the whole
package is: the files are written into a temporary folder that is then renamed into place.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from automl.errors import ConfigError
from automl.plugin import FAMILIES, LOGGER
from automl.plugin_manager import PLUGIN_NAME_RE

SCAFFOLD_FAMILIES = (*FAMILIES, LOGGER)


@dataclass(frozen=True)
class Scaffold:
    """What :func:`new_plugin` wrote."""

    family: str
    name: str
    folder: Path
    distribution: str  # automl-NAME
    package: str  # automl_NAME
    files: tuple[str, ...]  # relative to folder

    def next_steps(self) -> list[str]:
        folder = self.folder
        # pip reads "foo[test]" as a package name: a relative folder needs its "./".
        as_path = str(folder) if folder.is_absolute() or str(folder).startswith(".") else f"./{folder}"
        steps = [f'pip install -e "{as_path}[test]"', f"pytest {folder}"]
        if self.family == LOGGER:
            steps.append(f"automl search builtin:digits --space quick --trials 4 --log {self.name}")
        else:
            steps.append(f"automl search builtin:digits --space {folder / 'space.yaml'} --trials 4")
        return steps


def new_plugin(family: str, name: str, folder: str | Path | None = None) -> Scaffold:
    """Write the package for a ``family`` plugin called ``name`` into ``folder`` (default ``./NAME``)."""
    from automl import __version__
    from automl.io import atomic_directory

    if family not in SCAFFOLD_FAMILIES:
        raise ConfigError(f"new-plugin makes a plugin of one of the families {', '.join(SCAFFOLD_FAMILIES)}; got "
                          f"{family!r}.")
    if not isinstance(name, str) or not PLUGIN_NAME_RE.match(name):
        raise ConfigError(f"a plugin name must match {PLUGIN_NAME_RE.pattern} (lowercase letters, digits and "
                          f"underscores, starting with a letter), e.g. 'sepnet'; got {name!r}.")
    target = Path(folder) if folder is not None else Path(name)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"'{target}' already exists and is not an empty folder; new-plugin never overwrites. "
                          "Choose another --dir, or remove it first.")
    values = {
        "name": name,
        "family": family,
        "class_name": "".join(part.title() for part in name.split("_")),
        "distribution": f"automl-{name.replace('_', '-')}",
        "package": f"automl_{name}",
        "automl_version": __version__,
        "contract": {"architecture": "ArchitectureContract", "augmentation": "AugmentationContract",
                     "optimizer": "OptimizerContract", LOGGER: "LoggerContract"}[family],
        "hook": {"architecture": "automl_register_architectures", "augmentation": "automl_register_augmentations",
                 "optimizer": "automl_register_optimizers", LOGGER: "automl_register_loggers"}[family],
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README[family],
        f"src/{values['package']}/__init__.py": MODULE[family],
        "tests/test_contract.py": TEST,
    }
    if family in SPACE:
        files["space.yaml"] = SPACE[family]
    with atomic_directory(target) as tmp:
        for relative, template in files.items():
            path = tmp / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(Template(template).substitute(values))
    return Scaffold(family, name, target, values["distribution"], values["package"], tuple(sorted(files)))


PYPROJECT = """\
[build-system]
requires = ["setuptools>=77"]
build-backend = "setuptools.build_meta"

[project]
name = "$distribution"
version = "0.1.0"  # recorded in every leaderboard row that uses the plugin: bump it when the plugin changes
description = "An automl $family plugin: $name."
readme = "README.md"
requires-python = ">=3.10"
# automl brings Keras and its backend; add only what your plugin itself imports.
dependencies = ["automl>=$automl_version"]

[project.optional-dependencies]
test = ["automl[testing]>=$automl_version"]

# automl finds the plugin through this entry point (group "automl"): the module's hook functions register it.
[project.entry-points.automl]
$name = "$package"

[tool.setuptools.packages.find]
where = ["src"]

[tool.pytest.ini_options]
testpaths = ["tests"]
"""

TEST = '''\
"""automl's contract suite for $name, and its entry point (run: pytest)."""

from automl.testing import $contract

from $package import $class_name


class Test$class_name($contract):
    plugin = $class_name()


def test_automl_finds_it_through_its_entry_point(automl_registry):
    entry = automl_registry.get("$family", "$name")
    assert entry.source.startswith("$distribution=="), entry.source
'''

MODULE = {
    "architecture": '''\
"""The $name architecture: a small network for images and tables (edit it into yours)."""

from __future__ import annotations

from automl import Architecture, hookimpl

__version__ = "0.1.0"


class $class_name(Architecture):
    name = "$name"
    tasks = ("image", "tabular")
    description = "Dense layers with dropout, after a conv stem for images (pooled on photos, flattened below 32 px)."

    def space(self, hp):
        # Every hyperparameter is used by build(): the contract kit checks that each one changes the network.
        return {
            "units": hp.int("units", 32, 256, log=True, default=64),
            "layers": hp.int("layers", 1, 3, default=2),
            "dropout": hp.float("dropout", 0.0, 0.5, default=0.1),
        }

    def build(self, inputs, params, context):
        from keras import layers  # imported here: listing plugins must not start TensorFlow

        x = inputs  # already scaled: images to [0, 1], table columns standardised
        if len(context.input_shape) == 3:  # an image (height, width, channels)
            x = layers.Conv2D(max(8, params["units"] // 4), 3, padding="same", activation="relu")(x)
            x = layers.MaxPooling2D()(x)
            # Return (batch, features), never a feature map: photos pool globally, small images (8x8 digits)
            # keep where each feature is.
            x = layers.GlobalAveragePooling2D()(x) if min(context.input_shape[:2]) >= 32 else layers.Flatten()(x)
        for _ in range(params["layers"]):
            x = layers.Dense(params["units"], activation="relu")(x)
            if params["dropout"] > 0:
                x = layers.Dropout(params["dropout"], seed=context.seed)(x)  # seeded: trials are reproducible
        return x  # automl adds the classifier head


@hookimpl
def $hook():
    return [$class_name()]
''',
    "augmentation": '''\
"""The $name augmentation: random rotation and an optional flip (edit it into yours)."""

from __future__ import annotations

from automl import Augmentation, hookimpl

__version__ = "0.1.0"


class $class_name(Augmentation):
    name = "$name"
    tasks = ("image",)
    description = "Random rotation by up to +-factor turns, and an optional horizontal flip."

    def space(self, hp):
        return {
            "factor": hp.float("factor", 0.02, 0.2, default=0.08),
            "flip": hp.choice("flip", [False, True], default=True),
        }

    def layers(self, params, context):
        from keras import layers

        # Keras' random layers act only in training, so the exported model applies none of them.
        stack = [layers.RandomRotation(params["factor"], fill_mode="constant", seed=context.seed)]
        if params["flip"]:
            stack.append(layers.RandomFlip("horizontal", seed=context.seed + 1))
        return stack


@hookimpl
def $hook():
    return [$class_name()]
''',
    "optimizer": '''\
"""The $name optimizer: Adam with a searched beta_1 and the shared learning-rate schedules (edit it into yours)."""

from __future__ import annotations

from automl import Optimizer, hookimpl
from automl.plugin import learning_rate, learning_rate_space

__version__ = "0.1.0"


class $class_name(Optimizer):
    name = "$name"
    description = "Adam with a searched first-moment decay."

    def space(self, hp):
        # learning_rate_space declares learning_rate (which a space's training.learning_rate narrows) and schedule.
        return {**learning_rate_space(hp, 1e-4, 1e-2, default=1e-3),
                "beta_1": hp.float("beta_1", 0.8, 0.95, default=0.9)}

    def build(self, params, context):
        import keras

        # learning_rate() turns the two shared parameters into a float or a Keras schedule.
        return keras.optimizers.Adam(learning_rate(params, context), beta_1=params["beta_1"])


@hookimpl
def $hook():
    return [$class_name()]
''',
    LOGGER: '''\
"""The $name logger: one JSON line per epoch and per finished trial in RUN/$name/events.jsonl (edit it into yours)."""

from __future__ import annotations

import json
from pathlib import Path

from automl import Logger, hookimpl

__version__ = "0.1.0"


class $class_name(Logger):
    name = "$name"
    description = "Epochs and finished trials as JSON lines in RUN/$name/events.jsonl."

    def _write(self, run_dir: Path, event: dict) -> None:
        folder = Path(run_dir) / "$name"
        folder.mkdir(parents=True, exist_ok=True)
        with (folder / "events.jsonl").open("a") as handle:
            handle.write(json.dumps(event) + "\\n")

    @hookimpl
    def automl_trial_epoch(self, run_dir, trial, epoch, logs):
        self._write(run_dir, {"event": "epoch", "trial": trial, "epoch": epoch, **logs})

    @hookimpl
    def automl_trial_finished(self, run_dir, record):
        self._write(run_dir, {"event": "finished", "trial": record["trial"], "status": record["status"],
                              "val_accuracy": record.get("val_accuracy")})


@hookimpl
def $hook():
    return [$class_name()]
''',
}

# The space a scaffold ships: its plugin beside a built-in of the same family, on a short schedule, and tried
# first at its defaults.
_SPACE = """\
description: $$name beside $beside, on a short schedule.
objective: val_accuracy
architectures:
  $architectures
augmentations:
  $augmentations
optimizers:
  $optimizers
training:
  batch_size: 32
  max_epochs: 10
  patience: 3
initial_trials:  # the first trial tries the plugin at its defaults
  - {architecture: $first_architecture, augmentation: $first_augmentation, optimizer: $first_optimizer}
"""
_CNN = "cnn: {blocks: [1, 2], batch_norm: false}"
_SPACE_PARTS = {
    "architecture": {"beside": "the built-in mlp", "architectures": "$name: {}\n  mlp: {layers: [1, 2]}",
                     "augmentations": "none: {}", "optimizers": "adam: {}", "first_architecture": "$name",
                     "first_augmentation": "none", "first_optimizer": "adam"},
    "augmentation": {"beside": "no augmentation, on a small CNN", "architectures": _CNN,
                     "augmentations": "$name: {}\n  none: {}", "optimizers": "adam: {}", "first_architecture": "cnn",
                     "first_augmentation": "$name", "first_optimizer": "adam"},
    "optimizer": {"beside": "adam, on a small CNN", "architectures": _CNN, "augmentations": "none: {}",
                  "optimizers": "$name: {}\n  adam: {}", "first_architecture": "cnn", "first_augmentation": "none",
                  "first_optimizer": "$name"},
}
SPACE = {family: Template(_SPACE).substitute(parts) for family, parts in _SPACE_PARTS.items()}

_README_HEAD = """\
# $distribution

An automl $family plugin, `$name`, made with `automl new-plugin $family $name`.

```bash
pip install -e ".[test]"    # the plugin, automl, and automl's contract kit (pytest)
pytest                      # automl's contract suite for the plugin, and its entry point
automl plugins              # lists $name with its source $distribution==0.1.0
"""

_README_TAIL = """\
```

Edit `src/$package/__init__.py`; the contract suite in `tests/test_contract.py` says what a plugin must do and
names what is wrong. The plugin-author guide (docs/plugins.md in automl's repository) describes the `hp`
API, the build context and each family's rules.

Publish: bump `version` in `pyproject.toml` (every leaderboard row records it), then
`python -m build` and `twine upload dist/*`. Anyone who installs the package has the plugin in their searches.
"""

_SEARCH_LINE = {
    **{family: "automl search builtin:digits --space space.yaml --trials 4   # a search that tries it"
       for family in FAMILIES},
    LOGGER: "automl search builtin:digits --space quick --trials 4 --log $name   # writes RUN/$name/events.jsonl",
}
README = {family: f"{_README_HEAD}{line}\n{_README_TAIL}" for family, line in _SEARCH_LINE.items()}
