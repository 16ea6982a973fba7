"""Contract test suites for plugin authors.

Subclass the suite for your plugin family in a ``test_*.py`` file, set ``plugin``, and run pytest::

    from automl.testing import ArchitectureContract
    from my_package import MyArchitecture

    class TestMyArchitecture(ArchitectureContract):
        plugin = MyArchitecture()

Every check uses tiny random data and real Keras: a build (on each task the plugin declares), the output
shape, one training step with a finite loss, a save / ``safe_mode`` reload round trip, the
hyperparameter round trip through a fixed configuration, seeded determinism, and a clean
:class:`~automl.errors.HyperparameterError` for an out-of-range value. Besides the defaults, a few
randomly sampled configurations are built too (``random_configurations``).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest

from automl.errors import HyperparameterError
from automl.hp import ChoiceParam, DefaultsDriver, FixedDriver, FloatParam, IntParam, PluginHP, RandomDriver
from automl.plugin import Architecture, Augmentation, BuildContext, Optimizer, Plugin
from automl.plugin_manager import PLUGIN_NAME_RE

NUM_CLASSES = 3
SHAPES = {"image": (8, 8, 1), "tabular": (6,)}


def sample_values(plugin: Plugin, driver) -> dict[str, Any]:
    """Run ``plugin.space`` on ``driver``; return ``(params, full-name values)``."""
    hp = PluginHP(plugin.name, driver)
    return plugin.space(hp), hp.values


def tiny_data(task: str, n: int = 12, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(0.0, 1.0, size=(n, *SHAPES[task])).astype("float32")
    y = (np.arange(n) % NUM_CLASSES).astype("int64")
    return x, y


def assemble(task: str, body, seed: int = 0):
    """A minimal model around ``body(x, context) -> tensor``, as automl assembles it (with its head)."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    context = BuildContext(task, SHAPES[task], NUM_CLASSES, seed=seed, steps_per_epoch=2, epochs=2)
    inputs = keras.Input(SHAPES[task])
    features = body(inputs, context)
    if len(features.shape) > 2:
        features = layers.Flatten()(features)
    outputs = layers.Dense(NUM_CLASSES, activation="softmax")(features)
    return keras.Model(inputs, outputs)


class PluginContract:
    """Checks shared by every family. Subclasses set ``plugin``."""

    plugin: ClassVar[Plugin]
    random_configurations: ClassVar[int] = 2

    def configurations(self) -> list[dict[str, Any]]:
        """Full-name value dicts to build: the defaults plus a few seeded random draws."""
        configs = [sample_values(self.plugin, DefaultsDriver())[1]]
        configs += [sample_values(self.plugin, RandomDriver(seed))[1] for seed in range(self.random_configurations)]
        return configs

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


class ArchitectureContract(PluginContract):
    """The contract of an :class:`automl.Architecture` plugin."""

    plugin: ClassVar[Architecture]

    def _model(self, task: str, values: dict[str, Any], seed: int = 0):
        params = self.plugin.space(PluginHP(self.plugin.name, FixedDriver(values)))
        return assemble(task, lambda x, ctx: self.plugin.build(x, params, ctx), seed)

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

    def test_seeded_build_is_deterministic(self):
        task = self.plugin.tasks[0]
        x, _ = tiny_data(task)
        values = sample_values(self.plugin, DefaultsDriver())[1]
        first = self._model(task, values, seed=7).predict(x, verbose=0)
        second = self._model(task, values, seed=7).predict(x, verbose=0)
        np.testing.assert_allclose(first, second, rtol=1e-5, atol=1e-6)

    def test_saves_and_reloads_in_safe_mode(self, tmp_path):
        import keras

        task = self.plugin.tasks[0]
        x, _ = tiny_data(task)
        model = self._model(task, sample_values(self.plugin, DefaultsDriver())[1])
        path = tmp_path / "model.keras"
        model.save(path)
        reloaded = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(model.predict(x, verbose=0), reloaded.predict(x, verbose=0), rtol=1e-4, atol=1e-5)


class AugmentationContract(PluginContract):
    """The contract of an :class:`automl.Augmentation` plugin."""

    plugin: ClassVar[Augmentation]

    def _layers(self, values, task):
        params = self.plugin.space(PluginHP(self.plugin.name, FixedDriver(values)))
        context = BuildContext(task, SHAPES[task], NUM_CLASSES, seed=0)
        return self.plugin.layers(params, context)

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
            assert isinstance(layers, list) and all(isinstance(layer, keras.layers.Layer) for layer in layers)
            out_train, out_infer = x, x
            for layer in layers:
                out_train = layer(out_train, training=True)
                out_infer = layer(out_infer, training=False)
            assert tuple(out_train.shape) == x.shape, f"configuration {values} changed the shape"
            np.testing.assert_allclose(np.asarray(out_infer), x, atol=1e-6,
                                       err_msg=f"configuration {values} changes inputs at inference")

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

    def test_is_an_optimizer(self):
        assert isinstance(self.plugin, Optimizer)

    def test_builds_a_keras_optimizer_that_trains(self):
        import keras

        x, y = tiny_data("tabular")
        for values in self.configurations():
            params = self.plugin.space(PluginHP(self.plugin.name, FixedDriver(values)))
            context = BuildContext("tabular", SHAPES["tabular"], NUM_CLASSES, seed=0, steps_per_epoch=2, epochs=2)
            optimizer = self.plugin.build(params, context)
            assert isinstance(optimizer, keras.optimizers.Optimizer), f"got {type(optimizer).__name__}"
            model = assemble("tabular", lambda inputs, ctx: keras.layers.Dense(8, activation="relu")(inputs))
            model.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy")
            before = [w.copy() for w in model.get_weights()]
            loss = model.fit(x, y, epochs=2, batch_size=6, verbose=0).history["loss"][-1]
            assert np.isfinite(loss), f"non-finite loss with {values}"
            assert any(not np.allclose(a, b) for a, b in zip(before, model.get_weights())), "weights did not move"

    def test_declares_a_learning_rate(self):
        names = {n.split(".", 1)[1] for n in sample_values(self.plugin, DefaultsDriver())[1]}
        assert "learning_rate" in names, "search spaces narrow every optimizer's learning_rate"
