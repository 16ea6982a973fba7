"""Base classes for the three searched plugin families, and for loggers.

A plugin object is small: a ``name``, the ``tasks`` it supports, a ``space(hp)`` method that declares its
hyperparameters through :class:`automl.hp.PluginHP` and returns their values, and one method that does the
work. Built-in plugins (``automl_plugins``) subclass these exactly as a third party would.

A :class:`Logger` is not searched: a run selects it by name (``--log NAME``) and it receives that run's trial
lifecycle through ``@hookimpl`` methods (see :mod:`automl.hookspecs`). Search backends, the other family that is
not searched, have their base classes in :mod:`automl.backends`.

Keras is only imported inside the methods that build things, so listing plugins stays fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import keras

    from automl.hp import PluginHP

TASKS = ("image", "tabular")
FAMILIES = ("architecture", "augmentation", "optimizer")  # the families a search space samples from
LOGGER = "logger"  # the family of Logger plugins, selected per run and never searched
BACKEND = "backend"  # the family of search backend plugins (automl.backends), chosen per run with --backend NAME


@dataclass(frozen=True)
class BuildContext:
    """What a plugin may know about the problem when it builds."""

    task: str  # "image" or "tabular"
    input_shape: tuple[int, ...]  # per-sample shape, e.g. (8, 8, 1)
    num_classes: int  # 1 for regression: one output value
    seed: int = 0
    steps_per_epoch: int = 1  # for learning-rate schedules
    epochs: int = 1
    problem: str = "classification"  # or "regression" (automl handles the head and the loss)


class Plugin:
    """Common shape of every plugin object."""

    family: ClassVar[str]
    name: ClassVar[str]
    tasks: ClassVar[tuple[str, ...]] = TASKS
    description: ClassVar[str] = ""
    # Short names of hyperparameters that do not change what build() / layers() returns because only the
    # training loop reads them; the contract kit expects every other one to change the built object.
    training_only: ClassVar[tuple[str, ...]] = ()

    def space(self, hp: PluginHP) -> dict[str, Any]:
        """Declare this plugin's hyperparameters with ``hp.int`` / ``hp.float`` / ``hp.choice`` and
        return ``{short_name: value}``. Called only when this plugin is selected for a trial."""
        return {}

    def __repr__(self) -> str:
        return f"<{self.family} plugin {self.name!r}>"


class Architecture(Plugin):
    """Builds the body of a network; automl adds input preprocessing before and the classifier head after."""

    family = "architecture"

    def build(self, inputs: keras.KerasTensor, params: dict[str, Any], context: BuildContext) -> keras.KerasTensor:
        """Return a ``(batch, features)`` tensor computed from ``inputs``; automl adds the classifier head.

        ``inputs`` are already scaled (images to [0, 1], tabular features standardised) and augmented; an image
        arrives as ``(batch, height, width, channels)``, a table row as ``(batch, features)``. End an image
        network with global pooling or a ``Flatten`` (automl flattens a higher rank, but the contract kit flags
        it: a forgotten pooling layer makes the head grow with the input). Draw every choice from ``params``,
        pass ``seed=context.seed`` to random layers (``Dropout``), and use only serialisable Keras layers (no
        ``Lambda``) so the model exports and reloads safely.
        """
        raise NotImplementedError


class Augmentation(Plugin):
    """Returns Keras preprocessing layers; they are active in training only (Keras' random layers are)."""

    family = "augmentation"
    tasks = ("image",)

    def layers(self, params: dict[str, Any], context: BuildContext) -> list[keras.layers.Layer]:
        """Return the layers to apply, in order (an empty list for no augmentation)."""
        raise NotImplementedError


class Optimizer(Plugin):
    """Returns a configured ``keras.optimizers.Optimizer``, learning-rate schedule included."""

    family = "optimizer"

    def build(self, params: dict[str, Any], context: BuildContext) -> keras.optimizers.Optimizer:
        raise NotImplementedError


class Logger(Plugin):
    """Receives the trial lifecycle of the runs that select it (``--log NAME``, ``log: [NAME]`` in YAML).

    Implement any of the lifecycle hooks of :mod:`automl.hookspecs` (``automl_search_started``,
    ``automl_trial_started``, ``automl_trial_epoch``, ``automl_trial_finished``, ``automl_search_finished``) as
    methods decorated with :data:`automl.hookimpl`; leave out the ones you do not need, and any argument you do
    not use. ``automl_register_loggers`` returns a fresh instance per run, so keeping state on ``self`` is fine.
    Import heavy packages inside the methods: ``automl plugins`` imports every plugin module.
    """

    family = LOGGER

    def check(self) -> None:
        """Raise :class:`automl.errors.PluginError` if this logger cannot work here (a package it needs is not
        installed, say), with a message that says how to fix it. Called when a run selects it, before any
        training; the default accepts."""


# --- shared helpers for optimizer plugins ---------------------------------------------------------------
SCHEDULES = ("constant", "cosine", "warmup_cosine")


def learning_rate_space(hp: PluginHP, low: float, high: float, default: float) -> dict[str, Any]:
    """Declare the learning-rate parameters every optimizer shares: ``learning_rate`` and ``schedule``."""
    return {
        "learning_rate": hp.float("learning_rate", low, high, log=True, default=default),
        "schedule": hp.choice("schedule", SCHEDULES, default="constant"),
    }


def learning_rate(params: dict[str, Any], context: BuildContext) -> Any:
    """The learning rate (a float or a Keras schedule) described by ``learning_rate_space`` values."""
    import keras

    base = params["learning_rate"]
    schedule = params.get("schedule", "constant")
    total_steps = max(1, context.steps_per_epoch * context.epochs)
    if schedule == "constant":
        return base
    if schedule == "cosine":
        return keras.optimizers.schedules.CosineDecay(base, decay_steps=total_steps, alpha=0.05)
    if schedule == "warmup_cosine":
        warmup = max(1, min(context.steps_per_epoch, total_steps // 5))
        return keras.optimizers.schedules.CosineDecay(
            base * 0.1, decay_steps=max(1, total_steps - warmup), alpha=0.05,
            warmup_target=base, warmup_steps=warmup,
        )
    raise ValueError(f"schedule must be one of {SCHEDULES}; got {schedule!r}.")
