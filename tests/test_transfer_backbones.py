"""The ``transfer`` architecture's ResNet50 backbone: local ImageNet weights, caffe preprocessing, safe reload.

The tests write a ResNet50 no-top weights file themselves (seeded weights, in the legacy HDF5 layout
``keras.applications`` loads from a ``.h5`` path), so nothing is downloaded.
"""

from __future__ import annotations

import logging

import h5py
import keras
import numpy as np
import pytest
from automl_plugins.architectures import BACKBONES, cached_weights
from keras.src.legacy.saving import legacy_h5_format

from automl import BuildContext
from automl.plugin_manager import build_registry

SIZE = 32
PARAMS = {"backbone": "resnet50", "image_size": SIZE, "dropout": 0.0}
FILE_NAME = "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"
BGR_MEANS = np.array([103.939, 116.779, 123.68], dtype="float32")  # keras.applications' caffe means, BGR order


@pytest.fixture(scope="module")
def resnet50_file(tmp_path_factory):
    """A folder holding a seeded ResNet50 no-top weights file, and the model those weights came from."""
    keras.utils.set_random_seed(0)
    reference = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(SIZE, SIZE, 3),
                                            pooling="avg")
    rng = np.random.default_rng(0)
    for layer in reference.layers:  # recognisable batch-norm statistics instead of the 0 / 1 defaults
        if isinstance(layer, keras.layers.BatchNormalization):
            shape = layer.gamma.shape
            layer.set_weights([rng.uniform(0.5, 1.5, shape), rng.normal(0.0, 0.1, shape),
                               rng.normal(0.0, 0.1, shape), rng.uniform(0.5, 2.0, shape)])
    folder = tmp_path_factory.mktemp("weights")
    # Keras 3's save_weights insists on ".weights.h5"; ResNet50(weights="x.h5") reads the legacy layout.
    with h5py.File(folder / FILE_NAME, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    return folder, reference


@pytest.fixture
def weights_env(monkeypatch, tmp_path):
    """Point both weight locations somewhere empty; a test then sets AUTOML_WEIGHTS_DIR as it needs."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    monkeypatch.setenv("AUTOML_WEIGHTS_DIR", str(tmp_path / "empty"))
    return monkeypatch


def _transfer():
    return build_registry(autoload=False).get("architecture", "transfer").plugin


def _features(num_classes=None):
    """The transfer body on 32x32 RGB inputs (no head), or a whole model with a softmax head."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((SIZE, SIZE, 3))
    x = _transfer().build(inputs, dict(PARAMS), BuildContext("image", (SIZE, SIZE, 3), num_classes or 3))
    if num_classes:
        x = keras.layers.Dense(num_classes, activation="softmax")(x)
    return keras.Model(inputs, x)


def _images(n=3):
    return np.random.default_rng(1).uniform(0.0, 1.0, size=(n, SIZE, SIZE, 3)).astype("float32")


def test_file_name_is_the_one_keras_downloads(monkeypatch):
    from keras.src.applications import resnet

    requested = []

    def fake_get_file(fname, origin, **kwargs):
        requested.append(fname)
        raise RuntimeError("no download in tests")

    monkeypatch.setattr(resnet.file_utils, "get_file", fake_get_file)
    with pytest.raises(RuntimeError, match="no download"):
        keras.applications.ResNet50(include_top=False, weights="imagenet", input_shape=(SIZE, SIZE, 3))
    assert requested == [FILE_NAME] == [BACKBONES["resnet50"][1]]


def test_weights_are_found_in_automl_dir_then_keras_cache(weights_env, tmp_path):
    assert cached_weights("resnet50", SIZE) is None
    (tmp_path / "keras_home" / "models").mkdir(parents=True)
    (tmp_path / "keras_home" / "models" / FILE_NAME).write_bytes(b"")
    assert cached_weights("resnet50", SIZE) == tmp_path / "keras_home" / "models" / FILE_NAME
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / FILE_NAME).write_bytes(b"")
    assert cached_weights("resnet50", SIZE) == tmp_path / "empty" / FILE_NAME


def test_cached_resnet50_is_frozen_with_the_files_weights_and_caffe_preprocessing(resnet50_file, weights_env):
    folder, reference = resnet50_file
    weights_env.setenv("AUTOML_WEIGHTS_DIR", str(folder))
    model = _features()
    base = model.get_layer("resnet50")
    assert not base.trainable and base.trainable_weights == [] and base.non_trainable_weights

    for ref_layer in (layer for layer in reference.layers if layer.weights):  # the input layers' names differ
        expected = ref_layer.get_weights()
        got = base.get_layer(ref_layer.name).get_weights()
        assert len(got) == len(expected), ref_layer.name
        if ref_layer.name == "conv1_conv":
            # The only deliberate difference: the first kernel's input channels are reversed (RGB in, BGR weights).
            kernel, bias = expected
            assert not np.array_equal(got[0], kernel)
            np.testing.assert_array_equal(got[0], kernel[:, :, ::-1, :])
            np.testing.assert_array_equal(got[0][:, :, 0, :], kernel[:, :, 2, :])
            np.testing.assert_array_equal(got[1], bias)
        else:
            for g, e in zip(got, expected):
                np.testing.assert_array_equal(g, e, err_msg=ref_layer.name)

    # Independently: caffe preprocessing by hand (0..255, RGB -> BGR, subtract the BGR means) into the
    # unmodified network with the file's weights.
    x = _images()
    by_hand = (x * 255.0)[..., ::-1] - BGR_MEANS
    expected = reference.predict(by_hand, verbose=0)
    got = model.predict(x, verbose=0)
    assert np.abs(expected).max() > 1.0  # not a degenerate all-zero comparison
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # Feeding RGB to the unmodified net would differ: the channel handling is what the check above tests.
    assert np.abs(reference.predict((x * 255.0) - BGR_MEANS[::-1], verbose=0) - expected).max() > 1e-2


def test_cached_resnet50_model_saves_and_reloads_in_safe_mode(resnet50_file, weights_env, tmp_path):
    folder, _ = resnet50_file
    weights_env.setenv("AUTOML_WEIGHTS_DIR", str(folder))
    model = _features(num_classes=3)
    x = _images()
    before = model.predict(x, verbose=0)
    model.save(tmp_path / "model.keras")
    reloaded = keras.saving.load_model(tmp_path / "model.keras", safe_mode=True)
    np.testing.assert_array_equal(reloaded.predict(x, verbose=0), before)
    # The flipped kernel is saved as such; no second flip happens on reload.
    np.testing.assert_array_equal(reloaded.get_layer("resnet50").get_layer("conv1_conv").get_weights()[0],
                                  model.get_layer("resnet50").get_layer("conv1_conv").get_weights()[0])


def test_without_weights_resnet50_trains_from_random_init_and_says_so(weights_env, caplog):
    with caplog.at_level(logging.WARNING):
        model = _features()
    base = model.get_layer("resnet50")
    assert base.trainable and base.trainable_weights
    assert any("no cached ImageNet weights for resnet50" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)
    assert model.predict(_images(1), verbose=0).shape == (1, 2048)
