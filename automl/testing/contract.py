"""Contract test suites for plugin authors.

Subclass the suite for your plugin family in a ``test_*.py`` file, set ``plugin``, and run pytest::

    from automl.testing import ArchitectureContract
    from my_package import MyArchitecture

    class TestMyArchitecture(ArchitectureContract):
        plugin = MyArchitecture()

Every check uses tiny random data and real Keras. Shared by every family: a valid name and tasks, the
hyperparameter round trip through a fixed configuration, a clean :class:`~automl.errors.HyperparameterError`
for an out-of-range value, and that **each declared hyperparameter, moved across its range, changes what the
plugin builds** (a parameter nobody reads is a search dimension wasted; declare one that only the training
loop reads in the plugin's ``training_only``). Then, per family:

* architectures: a build and one training step on each task the plugin declares; ``build`` returns a
  ``(batch, features)`` tensor; two builds with the same seed give identical weights and outputs, different
  seeds give different weights, and the network's *shape* never depends on the seed (every choice goes
  through ``hp``, not Python's ``random``); every random layer (``Dropout``, ``GaussianNoise`` …) is seeded;
  the trained model survives a ``safe_mode`` save and reload;
* augmentations: layers that keep the input's shape, are seeded, are reproducible for a seed, and are
  inactive at inference; the model reloads in ``safe_mode``;
* optimizers: a ``keras.optimizers.Optimizer`` that moves the weights with a finite loss, and a learning
  rate inside the range a search space narrows it to (``training.learning_rate``);
* loggers: only known lifecycle hook names, each marked ``@hookimpl`` with the spec's argument names, a
  ``check()`` that passes or raises :class:`~automl.errors.PluginError`, and a whole run's events received
  without an exception.

Besides the defaults, a few randomly sampled configurations are tried (``random_configurations``). Each
failure names the plugin, the hyperparameter or layer, and what was seen.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import numpy as np
import pytest

from automl.errors import HyperparameterError, PluginError
from automl.hp import (
    ChoiceParam,
    DefaultsDriver,
    FixedDriver,
    FixedParam,
    FloatParam,
    IntParam,
    Param,
    PluginHP,
    RandomDriver,
    RecordingDriver,
    declared_params,
)
from automl.plugin import Architecture, Augmentation, BuildContext, Logger, Optimizer, Plugin
from automl.plugin_manager import PLUGIN_NAME_RE

NUM_CLASSES = 3
SHAPES = {"image": (8, 8, 1), "tabular": (6,)}
SEEDS = (0, 1, 2, 3)  # a network's shape must be the same under each of these seeds
CONFIG_KEYS_IGNORED = ("name", "seed")  # differ between two builds of the same network


# --- helpers the suites share (public: authors may use them in their own tests) ------------------------
def sample_values(plugin: Plugin, driver) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run ``plugin.space`` on ``driver``; return ``(params, full-name values)``."""
    hp = PluginHP(plugin.name, driver)
    return plugin.space(hp), hp.values


def params_for(plugin: Plugin, values: dict[str, Any]) -> dict[str, Any]:
    """The plugin's params for full-name ``values``; parameters not in ``values`` take their defaults."""
    return plugin.space(PluginHP(plugin.name, FixedDriver(values, fill_defaults=True)))


def context_for(task: str, seed: int = 0) -> BuildContext:
    return BuildContext(task, SHAPES[task], NUM_CLASSES, seed=seed, steps_per_epoch=2, epochs=2)


def tiny_data(task: str, n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, *SHAPES[task])).astype("float32")
    y = (np.arange(n) % NUM_CLASSES).astype("int64")
    return x, y


def assemble(task: str, body, seed: int = 0):
    """A minimal model around ``body(x, context) -> tensor``, as automl assembles it (with its head).

    The global random seed is set first, as automl's trainer does before each trial's build.
    """
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(SHAPES[task])
    features = body(inputs, context_for(task, seed))
    if len(features.shape) > 2:
        features = layers.Flatten()(features)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(features)
    return keras.Model(inputs, outputs)


def leaf_layers(layer, *, into_models: bool = True, _top: bool = True) -> Iterator[Any]:
    """The layers of a model or a layer list, nested ``Sequential`` models opened up, and nested functional
    models too unless ``into_models`` is false (a ``keras.applications`` backbone is Keras' own work)."""
    import keras

    if isinstance(layer, (list, tuple)):
        children = list(layer)
    elif isinstance(layer, keras.Model) and (_top or into_models or isinstance(layer, keras.Sequential)):
        children = list(layer.layers)
    else:
        yield layer
        return
    for child in children:
        yield from leaf_layers(child, into_models=into_models, _top=False)


def structure(layers) -> list[tuple[str, Any, list[tuple]]]:
    """What a network or layer list *is*, free of what differs between two builds of the same one: per layer,
    its class, its configuration without names and seeds, and its weights' shapes."""
    return [(type(layer).__name__, _without(layer.get_config(), CONFIG_KEYS_IGNORED),
             [tuple(w.shape) for w in layer.weights]) for layer in leaf_layers(layers)]


def _without(value: Any, keys: tuple[str, ...]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, keys) for k, v in value.items() if k not in keys}
    if isinstance(value, (list, tuple)):
        return [_without(v, keys) for v in value]
    return value


def first_difference(a: list, b: list) -> str:
    """A short description of where two :func:`structure` lists part."""
    if len(a) != len(b):
        return f"{len(a)} layers against {len(b)}"
    for (cls_a, cfg_a, w_a), (cls_b, cfg_b, w_b) in zip(a, b):
        if cls_a != cls_b:
            return f"a {cls_a} layer against a {cls_b}"
        if cfg_a != cfg_b:
            keys = sorted(k for k in set(cfg_a) | set(cfg_b) if cfg_a.get(k) != cfg_b.get(k))
            return f"{cls_a} {', '.join(f'{k}={cfg_a.get(k)!r} against {cfg_b.get(k)!r}' for k in keys[:3])}"
        if w_a != w_b:
            return f"{cls_a} weights of shapes {w_a} against {w_b}"
    return "no difference"


def unseeded_layers(layers) -> list[str]:
    """Random layers (those whose config has a ``seed``) built with ``seed=None``; a nested functional model
    (a ``keras.applications`` backbone) is not looked into."""
    return [f"'{layer.name}' ({type(layer).__name__})" for layer in leaf_layers(layers, into_models=False)
            if "seed" in layer.get_config() and layer.get_config()["seed"] is None]


def alternatives(param: Param, current: Any) -> list[Any]:
    """Values across ``param``'s range other than ``current``: both ends of a range, every other option."""
    if isinstance(param, IntParam):
        top = param.low + ((param.high - param.low) // param.step) * param.step
        values: list[Any] = [param.low, top]
    elif isinstance(param, FloatParam):
        values = [param.low, param.high]
    elif isinstance(param, ChoiceParam):
        values = list(param.options)
    else:
        values = []
    return [v for v in dict.fromkeys(values) if not (v == current and type(v) is type(current))]


class PluginContract:
    """Checks shared by every family. Subclasses set ``plugin``."""

    plugin: ClassVar[Plugin]
    random_configurations: ClassVar[int] = 2

    def configurations(self) -> list[dict[str, Any]]:
        """Full-name value dicts to build: the defaults plus a few seeded random draws."""
        configs = [sample_values(self.plugin, DefaultsDriver())[1]]
        configs += [sample_values(self.plugin, RandomDriver(seed))[1] for seed in range(self.random_configurations)]
        return configs

    def built(self, values: dict[str, Any]) -> Any:
        """What the plugin builds for ``values``, comparable with ``==`` (see :func:`structure`); None for a
        family that builds nothing (loggers)."""
        return None

    @property
    def who(self) -> str:
        return f"{self.plugin.family} {self.plugin.name!r}"

    def test_name_and_tasks(self):
        assert isinstance(self.plugin.name, str) and PLUGIN_NAME_RE.match(self.plugin.name), (
            f"name {self.plugin.name!r} must match {PLUGIN_NAME_RE.pattern}"
        )
        assert self.plugin.tasks and set(self.plugin.tasks) <= set(SHAPES), f"tasks {self.plugin.tasks!r}"

    def test_hyperparameter_round_trip(self):
        for values in self.configurations():
            params_a = self.plugin.space(PluginHP(self.plugin.name, FixedDriver(values)))
            params_b = self.plugin.space(PluginHP(self.plugin.name, FixedDriver(values)))
            assert params_a == params_b
            rebuilt = PluginHP(self.plugin.name, FixedDriver(values))
            self.plugin.space(rebuilt)
            assert rebuilt.values == values, "space() must declare the same parameters for the same values"

    def test_invalid_hyperparameter_is_rejected(self):
        driver = DefaultsDriver()
        self.plugin.space(PluginHP(self.plugin.name, driver))
        if not driver.declared:
            pytest.skip(f"{self.plugin.name} declares no hyperparameters")
        values = {p.name: p.initial for p in driver.declared}
        param = driver.declared[0]
        if isinstance(param, (IntParam, FloatParam)):
            values[param.name] = param.high + (param.high - param.low) + 1
        elif isinstance(param, ChoiceParam):
            values[param.name] = "__not_an_option__"
        else:
            pytest.skip(f"{param.name} is fixed")
        with pytest.raises(HyperparameterError, match=param.name.replace(".", r"\.")):
            self.plugin.space(PluginHP(self.plugin.name, FixedDriver(values)))

    def test_training_only_names_declared_hyperparameters(self):
        declared = {p.name.split(".", 1)[1] for values in self.configurations() for p in self._declared(values)}
        unknown = sorted(set(self.plugin.training_only) - declared)
        assert not unknown, (f"{self.who} lists {unknown} in training_only, but declares no such hyperparameter "
                             f"(it declares {sorted(declared)})")

    def test_every_hyperparameter_changes_what_is_built(self):
        """Each declared hyperparameter, moved across its range, changes the built object, on at least one of
        the configurations tried (a parameter that only matters when another has some value is found there)."""
        configurations = self.configurations()
        if self.built(configurations[0]) is None:
            pytest.skip(f"{self.plugin.family} plugins build nothing to compare")
        unused: list[str] = []
        for name, param in self._sweepable(configurations).items():
            tried: list[Any] = []
            for values in configurations:
                if name not in values:  # declared only under other values of another parameter
                    continue
                base = self.built(values)
                changed = False
                for value in alternatives(param, values[name]):
                    tried.append(value)
                    if self.built({**values, name: value}) != base:
                        changed = True
                        break
                if changed:
                    break
            else:
                shown = ", ".join(map(repr, dict.fromkeys(tried)))
                unused.append(f"'{name}' ({param.describe()}; tried {shown})")
        assert not unused, (
            f"{self.who}: moving {'; '.join(unused)} across its range did not change what the plugin builds (same "
            "layers, configurations, weight shapes and outputs). Use each declared hyperparameter in "
            f"{'layers()' if isinstance(self.plugin, Augmentation) else 'build()'}, remove it from space(), or, if "
            "only the training loop reads it, list its short name in the plugin's training_only.")

    def assert_seeded(self, layers, values: dict[str, Any], what: str) -> None:
        unseeded = unseeded_layers(layers)
        assert not unseeded, (
            f"{self.who}: layer(s) {', '.join(unseeded)} were built with seed=None (configuration {values}); "
            f"pass seed=context.seed so a trial's {what} reproducible.")

    def _declared(self, values: dict[str, Any]) -> list[Param]:
        driver = RecordingDriver(FixedDriver(values, fill_defaults=True))
        self.plugin.space(PluginHP(self.plugin.name, driver))
        return driver.declared

    def _sweepable(self, configurations: list[dict[str, Any]]) -> dict[str, Param]:
        found: dict[str, Param] = {}
        for values in configurations:
            for param in self._declared(values):
                short = param.name.split(".", 1)[1]
                if not isinstance(param, FixedParam) and short not in self.plugin.training_only:
                    found.setdefault(param.name, param)
        return found


class ArchitectureContract(PluginContract):
    """The contract of an :class:`automl.Architecture` plugin."""

    plugin: ClassVar[Architecture]

    def _body(self, values: dict[str, Any]) -> Callable:
        params = params_for(self.plugin, values)
        return lambda x, ctx: self.plugin.build(x, params, ctx)

    def _model(self, task: str, values: dict[str, Any], seed: int = 0):
        return assemble(task, self._body(values), seed)

    def _network(self, task: str, values: dict[str, Any], seed: int = 0):
        """The plugin's own part alone: inputs to the tensor ``build`` returns."""
        import keras

        keras.utils.set_random_seed(seed)
        inputs = keras.Input(SHAPES[task])
        return keras.Model(inputs, self._body(values)(inputs, context_for(task, seed)))

    def built(self, values: dict[str, Any]) -> Any:
        task = self.plugin.tasks[0]
        network = self._network(task, values)
        x, _ = tiny_data(task)
        # The outputs tell apart what the configuration does not show (a constant used inside a layer call).
        return structure(network), np.round(np.asarray(network(x, training=False)), 5).tolist()

    def test_is_an_architecture(self):
        assert isinstance(self.plugin, Architecture)

    @pytest.mark.parametrize("task", list(SHAPES))
    def test_builds_trains_and_outputs_one_probability_per_class(self, task):
        if task not in self.plugin.tasks:
            pytest.skip(f"{self.plugin.name} does not support {task}")
        x, y = tiny_data(task)
        for values in self.configurations():
            model = self._model(task, values)
            model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
            assert model.predict(x, verbose=0).shape == (len(x), NUM_CLASSES), f"configuration {values}"
            loss = model.fit(x, y, epochs=1, batch_size=6, verbose=0).history["loss"][-1]
            assert np.isfinite(loss), f"non-finite loss {loss} for configuration {values}"

    @pytest.mark.parametrize("task", list(SHAPES))
    def test_returns_one_feature_vector_per_sample(self, task):
        """``build`` returns ``(batch, features)``: a forgotten pooling layer would leave a feature map, whose
        flattening makes the head's Dense layer grow with the input and learn where things are."""
        if task not in self.plugin.tasks:
            pytest.skip(f"{self.plugin.name} does not support {task}")
        for values in self.configurations():
            shape = tuple(self._network(task, values).output.shape)
            assert len(shape) == 2, (
                f"{self.who}: build() returned a rank-{len(shape)} tensor of shape {shape} for {task} inputs of "
                f"shape {SHAPES[task]} (configuration {values}); return (batch, features): end with "
                "layers.GlobalAveragePooling2D() or layers.Flatten().")

    def test_seeded_build_is_deterministic(self):
        task = self.plugin.tasks[0]
        x, _ = tiny_data(task)
        values = sample_values(self.plugin, DefaultsDriver())[1]
        first, second = self._model(task, values, seed=7), self._model(task, values, seed=7)
        for a, b in zip(first.get_weights(), second.get_weights()):
            np.testing.assert_array_equal(a, b, err_msg=f"{self.who}: two builds with seed 7 gave different weights")
        np.testing.assert_allclose(first.predict(x, verbose=0), second.predict(x, verbose=0), rtol=1e-5, atol=1e-6,
                                   err_msg=f"{self.who}: two builds with seed 7 gave different outputs")

    def test_different_seeds_give_different_weights(self):
        task = self.plugin.tasks[0]
        values = sample_values(self.plugin, DefaultsDriver())[1]
        a, b = self._network(task, values, seed=7), self._network(task, values, seed=8)
        if not a.trainable_weights:
            pytest.skip(f"{self.plugin.name} trains no weights of its own at its defaults")
        same = all(np.array_equal(np.asarray(u), np.asarray(v)) for u, v in zip(a.trainable_weights, b.trainable_weights))
        assert not same, (f"{self.who}: builds with seeds 7 and 8 gave identical initial weights; leave the "
                          "initializers' seeds alone (automl seeds each trial) instead of fixing them.")

    def test_network_shape_does_not_depend_on_the_seed(self):
        """Everything that shapes the network comes from ``params``: Python's ``random`` or NumPy inside
        ``build`` would make the recorded hyperparameters describe a different network than the one trained."""
        task = self.plugin.tasks[0]
        for values in self.configurations()[:2]:
            shapes = {seed: structure(self._network(task, values, seed=seed)) for seed in SEEDS}
            for seed in SEEDS[1:]:
                assert shapes[seed] == shapes[SEEDS[0]], (
                    f"{self.who}: the same hyperparameters {values} built different networks under seeds "
                    f"{SEEDS[0]} and {seed} ({first_difference(shapes[SEEDS[0]], shapes[seed])}); draw every "
                    "choice through hp in space(), not Python's random or NumPy in build().")

    def test_random_layers_are_seeded(self):
        task = self.plugin.tasks[0]
        for values in self.configurations():
            self.assert_seeded(self._network(task, values), values, "dropout and noise are")

    def test_trained_model_saves_and_reloads_in_safe_mode(self, tmp_path):
        import keras

        task = self.plugin.tasks[0]
        x, y = tiny_data(task)
        model = self._model(task, sample_values(self.plugin, DefaultsDriver())[1])
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
        model.fit(x, y, epochs=1, batch_size=6, verbose=0)
        path = tmp_path / "model.keras"
        model.save(path)
        try:
            reloaded = keras.saving.load_model(path, safe_mode=True)
        except Exception as exc:  # any failure here is the finding
            pytest.fail(f"{self.who}: the trained model does not reload in safe mode ({type(exc).__name__}: {exc}); "
                        "use serialisable Keras layers (no Lambda) or register your own with "
                        "@keras.saving.register_keras_serializable.")
        np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{self.who}: the reloaded model predicts differently")


class AugmentationContract(PluginContract):
    """The contract of an :class:`automl.Augmentation` plugin."""

    plugin: ClassVar[Augmentation]

    def _layers(self, values, task, seed: int = 0):
        return self.plugin.layers(params_for(self.plugin, values), context_for(task, seed))

    def built(self, values: dict[str, Any]) -> Any:
        return structure(self._layers(values, self.plugin.tasks[0]))

    def test_is_an_augmentation(self):
        assert isinstance(self.plugin, Augmentation)

    @pytest.mark.parametrize("task", list(SHAPES))
    def test_keeps_shape_and_is_inactive_at_inference(self, task):
        import keras

        if task not in self.plugin.tasks:
            pytest.skip(f"{self.plugin.name} does not support {task}")
        x, _ = tiny_data(task)
        for values in self.configurations():
            layers = self._layers(values, task)
            assert isinstance(layers, list) and all(isinstance(layer, keras.layers.Layer) for layer in layers), (
                f"{self.who}: layers() must return a list of keras.layers.Layer; got {layers!r}")
            out_train, out_infer = x, x
            for layer in layers:
                out_train = layer(out_train, training=True)
                out_infer = layer(out_infer, training=False)
            assert tuple(out_train.shape) == x.shape, f"{self.who}: configuration {values} changed the shape"
            np.testing.assert_allclose(np.asarray(out_infer), x, atol=1e-6,
                                       err_msg=f"{self.who}: configuration {values} changes inputs at inference")

    def test_random_layers_are_seeded(self):
        for values in self.configurations():
            self.assert_seeded(self._layers(values, self.plugin.tasks[0]), values, "augmentation is")

    def test_seeded_training_output_is_deterministic(self):
        import keras

        task = self.plugin.tasks[0]
        x, _ = tiny_data(task)
        values = sample_values(self.plugin, DefaultsDriver())[1]
        outputs = []
        for _ in range(2):
            keras.utils.set_random_seed(5)
            out = x
            for layer in self._layers(values, task, seed=5):
                out = layer(out, training=True)
            outputs.append(np.asarray(out))
        np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6,
                                   err_msg=f"{self.who}: two builds with seed 5 augment the same batch differently")

    def test_saves_and_reloads_in_safe_mode(self, tmp_path):
        import keras

        task = self.plugin.tasks[0]
        values = sample_values(self.plugin, DefaultsDriver())[1]

        def body(x, ctx):
            for layer in self._layers(values, task):
                x = layer(x)
            return x

        model = assemble(task, body)
        model.save(tmp_path / "model.keras")
        keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)


class OptimizerContract(PluginContract):
    """The contract of an :class:`automl.Optimizer` plugin."""

    plugin: ClassVar[Optimizer]

    def _optimizer(self, params: dict[str, Any]):
        return self.plugin.build(params, context_for("tabular"))

    def built(self, values: dict[str, Any]) -> Any:
        return _without(self._optimizer(params_for(self.plugin, values)).get_config(), CONFIG_KEYS_IGNORED)

    def test_is_an_optimizer(self):
        assert isinstance(self.plugin, Optimizer)

    def test_builds_a_keras_optimizer_that_trains(self):
        import keras

        x, y = tiny_data("tabular")
        for values in self.configurations():
            optimizer = self._optimizer(params_for(self.plugin, values))
            assert isinstance(optimizer, keras.optimizers.Optimizer), (
                f"{self.who}: build() must return a keras.optimizers.Optimizer; got {type(optimizer).__name__}")
            model = assemble("tabular", lambda inputs, ctx: keras.layers.Dense(8, activation="relu")(inputs))
            model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
            before = [w.copy() for w in model.get_weights()]
            loss = model.fit(x, y, epochs=2, batch_size=6, verbose=0).history["loss"][-1]
            assert np.isfinite(loss), f"{self.who}: non-finite loss with {values}"
            assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights())), (
                f"{self.who}: the weights did not move in two epochs with {values}")

    def test_declares_a_learning_rate(self):
        names = {n.split(".", 1)[1] for n in sample_values(self.plugin, DefaultsDriver())[1]}
        assert "learning_rate" in names, f"{self.who}: search spaces narrow every optimizer's learning_rate"

    def test_honours_a_narrowed_learning_rate_range(self):
        """A search space's ``training.learning_rate`` narrows ``learning_rate``; the optimizer's (peak)
        learning rate must then lie in that range, whichever schedule is drawn. Two narrow ranges, near each end
        of the declared one, so that no fixed rate can satisfy both."""
        declared = {p.name.split(".", 1)[1]: p for p in declared_params(self.plugin)}
        param = declared.get("learning_rate")
        if not isinstance(param, FloatParam):
            pytest.skip(f"{self.plugin.name} declares no float learning_rate")
        for low, high in _narrow_ranges(param):
            for seed in range(3):
                hp = PluginHP(self.plugin.name, RandomDriver(seed), overrides={"learning_rate": {"low": low, "high": high}})
                params = self.plugin.space(hp)
                peak = peak_learning_rate(self._optimizer(params))
                assert low * (1 - 1e-6) <= peak <= high * (1 + 1e-6), (
                    f"{self.who}: with learning_rate narrowed to [{low:g}, {high:g}] (sampled "
                    f"{hp.values[f'{self.plugin.name}.learning_rate']:g}) the optimizer's learning rate peaks at "
                    f"{peak:g}; build it from params['learning_rate'] (automl.plugin.learning_rate does).")


def _narrow_ranges(param: FloatParam) -> list[tuple[float, float]]:
    if param.log and param.low > 0:
        span = math.log(param.high / param.low)
        return [(param.low * math.exp(span * a), param.low * math.exp(span * b)) for a, b in ((0.1, 0.15), (0.85, 0.9))]
    width = param.high - param.low
    return [(param.low + width * a, param.low + width * b) for a, b in ((0.1, 0.15), (0.85, 0.9))]


def peak_learning_rate(optimizer, steps: int = 64) -> float:
    """The optimizer's learning rate, or its schedule's highest value over the first ``steps`` steps."""
    import keras

    rate = optimizer.get_config()["learning_rate"]
    if isinstance(rate, dict):
        schedule = keras.saving.deserialize_keras_object(rate)
        return max(float(schedule(step)) for step in range(steps + 1))
    return float(rate)


class LoggerContract(PluginContract):
    """The contract of an :class:`automl.Logger` plugin: it is called the way a run calls it."""

    plugin: ClassVar[Logger]

    def test_is_a_logger(self):
        assert isinstance(self.plugin, Logger)

    def test_hook_methods_are_known_and_marked(self):
        from automl import hookspecs

        problems = []
        for name, method in inspect.getmembers(type(self.plugin), callable):
            if not name.startswith(f"{hookspecs.PROJECT_NAME}_"):
                continue
            if name not in hookspecs.LIFECYCLE_HOOKS:
                problems.append(f"{name} is not a lifecycle hook (they are {', '.join(hookspecs.LIFECYCLE_HOOKS)})")
                continue
            if not hasattr(method, f"{hookspecs.PROJECT_NAME}_impl"):
                problems.append(f"{name} lacks @automl.hookimpl, so it is never called")
                continue
            spec_args = set(inspect.signature(getattr(hookspecs, name)).parameters)
            extra = [a for a in inspect.signature(method).parameters if a != "self" and a not in spec_args]
            if extra:
                problems.append(f"{name} takes {extra}, which the hook does not pass (it passes {sorted(spec_args)})")
        assert not problems, f"{self.who}: " + "; ".join(problems)
        assert any(name in hookspecs.LIFECYCLE_HOOKS for name in dir(type(self.plugin))), (
            f"{self.who} implements none of the lifecycle hooks {', '.join(hookspecs.LIFECYCLE_HOOKS)}")

    def test_check_passes_or_raises_a_plugin_error(self):
        try:
            self.plugin.check()
        except PluginError as exc:
            assert str(exc), f"{self.who}: check() raised a PluginError without a message"
        except Exception as exc:  # the finding
            pytest.fail(f"{self.who}: check() raised {type(exc).__name__}: {exc}; raise automl.errors.PluginError "
                        "with a message that says how to fix it")

    def test_receives_a_whole_run(self, tmp_path):
        """Two trials' events, as a search sends them; no hook may raise (a raising logger is switched off)."""
        from automl.events import TrialEpoch, TrialFinished, TrialStarted
        from automl.lifecycle import LifecycleHooks
        from automl.plugin_manager import PluginEntry

        try:
            self.plugin.check()
        except PluginError as exc:
            pytest.skip(f"{self.plugin.name} cannot run here: {exc}")
        reported: list[str] = []
        hooks = LifecycleHooks([PluginEntry(self.plugin, self.plugin.family, "contract", "0")], tmp_path,
                               reported.append)
        hooks.search_started({"data": "builtin:digits", "backend": "optuna", "target_trials": 2, "deadline": None})
        rows = []
        for trial, status in ((0, "complete"), (1, "pruned")):
            candidate = {"architecture": "mlp", "augmentation": "none", "optimizer": "adam",
                         "params": {"mlp.units": 64, "adam.learning_rate": 1e-3}, "batch_size": 32, "max_epochs": 2,
                         "patience": 1}
            hooks(TrialStarted(trial, candidate))
            history = {"loss": [], "accuracy": [], "val_loss": [], "val_accuracy": []}
            for epoch in range(2):
                logs = {"loss": 1.0 / (epoch + 1), "accuracy": 0.5, "val_loss": 1.1, "val_accuracy": 0.5,
                        "learning_rate": 1e-3}
                for key in history:
                    history[key].append(logs[key])
                hooks(TrialEpoch(trial, epoch, 2, logs))
            record = {"trial": trial, "status": status, "reason": "" if status == "complete" else "pruned at epoch 2",
                      "objective": 0.5, "val_accuracy": 0.5, "val_loss": 1.1, "epochs": 2, "best_epoch": 1,
                      "train_seconds": 0.1, "param_count": 100, "history": history, "candidate": candidate}
            hooks(TrialFinished(record, trial + 1))
            rows.append({**record, "rank": 1 if status == "complete" else None})
        hooks(TrialFinished({"trial": 2, "status": "failed", "reason": "worker died"}, 3))
        hooks.search_finished(rows, "trials reached")
        assert not reported, f"{self.who}: " + "; ".join(reported)
