"""Assembling a Keras model from a candidate (automl.model): scaling, augmentation, network and head, the model
an export keeps, the ensemble of several, and compiling. Real Keras models on digits-shaped inputs; no training.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from helpers import TINY_MLP_SPACE

from automl import BuildContext
from automl.hp import FixedDriver
from automl.model import (
    AUGMENTATION_PART,
    NETWORK_PART,
    average_ensemble,
    build_model,
    compile_model,
    inference_model,
    input_scaling,
    plugin_values,
)
from automl.search_space import SearchSpace

MLP = {"architecture": "mlp", "augmentation": "none", "optimizer": "adam"}


def candidate_from(space_file, registry, **values):
    """The candidate of a tiny space file with the given choices (the rest at their defaults)."""
    return SearchSpace.load(space_file, registry).sample(FixedDriver(values, fill_defaults=True), registry, "image")


@pytest.fixture
def flip_space(tmp_path):
    """helpers.TINY_MLP_SPACE that may also flip its images."""
    path = tmp_path / "flip.yaml"
    path.write_text(TINY_MLP_SPACE.replace("augmentations: [none]", "augmentations: [none, flip]"))
    return path


def digits_context(digits, **fields) -> BuildContext:
    return BuildContext("image", digits.input_shape, 10, **fields)


def build_for(candidate, registry, digits):
    return build_model(candidate, registry, digits_context(digits), input_scaling("image", digits.preprocessing))


def test_an_mlp_scales_raw_pixels_and_ends_in_a_softmax_over_the_classes(tiny_mlp_space, registry, digits):
    candidate = candidate_from(tiny_mlp_space, registry, **MLP)
    model = build_for(candidate, registry, digits)
    assert model.name == "automl_mlp" and model.input_shape == (None, 8, 8, 1) and model.output_shape == (None, 10)
    # No augmentation part for "none": raw input, then the scaling layer, then the network with its head.
    assert [layer.name for layer in model.layers] == ["inputs", "scaling", NETWORK_PART]
    assert model.get_layer("scaling").scale == pytest.approx(1 / 16)  # the digits' pixels go up to 16
    # 64 pixels -> 32 units -> 10 classes: (64 * 32 + 32) + (32 * 10 + 10) weights.
    assert model.count_params() == 2080 + 330
    assert model.get_layer(NETWORK_PART).get_layer("predictions").activation.__name__ == "softmax"
    probabilities = model.predict(digits.x_val[:5], verbose=0)
    assert probabilities.shape == (5, 10) and np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)


def test_a_cnn_takes_the_scaled_image_and_has_its_convolutions(tiny_cnn_space, registry, digits):
    candidate = candidate_from(tiny_cnn_space, registry, architecture="cnn", augmentation="none", optimizer="adam",
                               **{"cnn.filters": 8})
    model = build_for(candidate, registry, digits)
    network = model.get_layer(NETWORK_PART)
    assert model.output_shape == (None, 10) and network.input_shape == (None, 8, 8, 1)
    convolutions = [layer for layer in network.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convolutions] == [8]  # one block of one convolution
    assert model.count_params() == network.count_params() > 0  # the scaling layer has no weights


def test_an_augmentation_is_a_part_of_its_own_that_the_inference_model_leaves_out(flip_space, registry, digits):
    candidate = candidate_from(flip_space, registry, **{**MLP, "augmentation": "flip"})
    model = build_for(candidate, registry, digits)
    assert [layer.name for layer in model.layers] == ["inputs", "scaling", AUGMENTATION_PART, NETWORK_PART]
    flips = model.get_layer(AUGMENTATION_PART).layers
    assert [type(layer).__name__ for layer in flips] == ["RandomFlip"] and flips[0].mode == "horizontal"
    served = inference_model(model)
    assert AUGMENTATION_PART not in [layer.name for layer in served.layers]
    assert served.get_layer(NETWORK_PART) is model.get_layer(NETWORK_PART)  # the same weights, not a copy
    x = digits.x_val[:8]
    np.testing.assert_allclose(served.predict(x, verbose=0), model(x, training=False), atol=1e-6)
    plain = build_for(candidate_from(flip_space, registry, **MLP), registry, digits)
    assert inference_model(plain) is plain  # nothing to leave out


def test_tabular_inputs_are_standardised_inside_the_model(registry):
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.normal(50.0, 10.0, 200), rng.normal(-3.0, 0.5, 200), np.full(200, 7.0)])
    scaling = input_scaling("tabular", {}, x)
    assert scaling["mean"] == pytest.approx(x.mean(axis=0).tolist())
    assert scaling["variance"][:2] == pytest.approx(x.var(axis=0)[:2].tolist()) and scaling["variance"][2] == 1e-12
    space = SearchSpace.from_dict({"architectures": {"mlp": {"layers": 1, "units": 32, "dropout": 0.0}},
                                   "optimizers": ["adam"]}, registry)
    candidate = space.sample(FixedDriver({"architecture": "mlp", "optimizer": "adam"}, fill_defaults=True),
                             registry, "tabular")
    model = build_model(candidate, registry, BuildContext("tabular", (3,), 2), scaling)
    assert model.output_shape == (None, 2)
    scaled = keras.Model(model.inputs, model.get_layer("scaling").output).predict(x, verbose=0)
    np.testing.assert_allclose(scaled[:, :2], (x[:, :2] - x[:, :2].mean(axis=0)) / x[:, :2].std(axis=0),
                               rtol=1e-4, atol=1e-4)
    assert np.all(scaled[:, 2] == 0.0)  # a constant column is centred, not divided by zero
    assert input_scaling("image", {}) == {"scale": 1 / 255}  # an image without a recorded scale: 8-bit pixels


def test_an_ensemble_averages_its_members_probabilities(flip_space, registry, digits):
    candidate = candidate_from(flip_space, registry, **{**MLP, "augmentation": "flip"})
    members = [build_for(candidate, registry, digits) for _ in range(2)]  # different initial weights
    ensemble = average_ensemble(members, ["trial_0003", "trial_0007"])
    assert ensemble.name == "automl_ensemble" and ensemble.layers[-1].name == "predictions"
    assert {layer.name for layer in ensemble.layers} >= {"trial_0003", "trial_0007"}
    x = digits.x_val[:16]
    each = [member.predict(x, verbose=0) for member in members]
    assert not np.allclose(each[0], each[1])  # otherwise the average would prove nothing
    np.testing.assert_allclose(ensemble.predict(x, verbose=0), np.mean(each, axis=0), atol=1e-6)


def test_the_plugins_values_and_the_compiled_optimizer_follow_the_candidate(tiny_mlp_space, registry, digits):
    candidate = candidate_from(tiny_mlp_space, registry, **MLP, **{"adam.learning_rate": 0.005})
    assert plugin_values(candidate, "architecture", registry) == {"layers": 1, "units": 32, "dropout": 0.0,
                                                                  "activation": "relu", "batch_norm": False}
    assert plugin_values(candidate, "optimizer", registry)["learning_rate"] == pytest.approx(0.005)
    model = build_for(candidate, registry, digits)
    compile_model(model, candidate, registry, digits_context(digits, steps_per_epoch=20))
    assert isinstance(model.optimizer, keras.optimizers.Adam)
    assert float(keras.ops.convert_to_numpy(model.optimizer.learning_rate)) == pytest.approx(0.005)
    assert model.loss == "sparse_categorical_crossentropy"
    assert model.steps_per_execution == 20  # one execution runs the whole small epoch
    compile_model(model, candidate, registry, digits_context(digits, steps_per_epoch=400))
    assert model.steps_per_execution == 50
