"""What the built-in architectures must do on small data, beyond the plugin contract."""

from __future__ import annotations

import pytest

from automl.data import load_dataset
from automl.hp import FixedDriver
from automl.plugin_manager import build_registry
from automl.search_space import SearchSpace
from automl.trainer import COMPLETE, train_candidate


@pytest.mark.parametrize("architecture, params", [
    ("resnet", {"resnet.width": 16, "resnet.stages": 2}),
    ("cnn", {"cnn.filters": 16, "cnn.batch_norm": True}),
])
def test_batch_normalised_networks_learn_digits_within_a_few_epochs(architecture, params):
    # Digits has ~40 steps an epoch. With Keras' default BatchNormalization momentum (0.99) the inference-mode
    # statistics lag for several epochs, validation accuracy stays near chance (0.1-0.3 here) and early
    # stopping ends the trial at its first epoch; the built-ins must settle within an epoch or two.
    registry = build_registry(autoload=False)
    space = SearchSpace.from_dict({"architectures": [architecture], "augmentations": ["none"],
                                   "optimizers": {"adam": {"learning_rate": 0.003, "schedule": "constant"}},
                                   "training": {"batch_size": 32, "max_epochs": 4, "patience": 4}}, registry)
    values = {"architecture": architecture, "augmentation": "none", "optimizer": "adam", **params}
    candidate = space.sample(FixedDriver(values, fill_defaults=True), registry, "image")
    result = train_candidate(load_dataset("builtin:digits", seed=0), candidate, registry, seed=0)
    assert result.status == COMPLETE, result.reason
    assert result.val_accuracy > 0.85, result.history["val_accuracy"]


@pytest.mark.parametrize("side, head", [(8, "Flatten"), (31, "Flatten"), (32, "GlobalAveragePooling2D"),
                                        (64, "GlobalAveragePooling2D")])
def test_the_cnn_pools_photos_globally_and_flattens_small_images(side, head):
    # A Flatten after two blocks of a 64x64 photo is a 16x16x64 map: 2 M weights in the dense layer, which grow
    # with the input and learn where a shape is. Digits' 2x2 maps keep it (their search is unchanged).
    import keras
    from automl_plugins.architectures import CNN

    from automl import BuildContext

    params = {"blocks": 2, "filters": 8, "convs_per_block": 1, "kernel_size": 3, "batch_norm": False,
              "dense_units": 16, "dropout": 0.0}
    inputs = keras.Input((side, side, 3))
    model = keras.Model(inputs, CNN().build(inputs, params, BuildContext("image", (side, side, 3), 4)))
    heads = [type(layer).__name__ for layer in model.layers if type(layer).__name__ in ("Flatten",
                                                                                       "GlobalAveragePooling2D")]
    assert heads == [head]
    if head == "GlobalAveragePooling2D":  # the dense layer's size does not depend on the input's
        assert model.layers[-1].count_params() == 16 * 16 + 16
