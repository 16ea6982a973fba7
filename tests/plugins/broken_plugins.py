"""Plugins with the mistakes plugin authors really make, one each; the contract kit must catch every one
(``tests/test_contract_kit.py``). Not registered anywhere: the tests name them directly."""

from __future__ import annotations

import random

from automl import Architecture, Augmentation, Logger, Optimizer, hookimpl
from automl.plugin import learning_rate_space


class FeatureMapNet(Architecture):
    """Forgets the pooling: returns its rank-4 feature map."""

    name = "feature_map_net"
    tasks = ("image",)

    def space(self, hp):
        return {"filters": hp.int("filters", 8, 32, default=16)}

    def build(self, inputs, params, context):
        from keras import layers

        return layers.Conv2D(params["filters"], 3, padding="same", activation="relu")(inputs)


class IgnoredKernelNet(Architecture):
    """Declares kernel_size and never reads it."""

    name = "ignored_kernel_net"
    tasks = ("image",)

    def space(self, hp):
        return {"filters": hp.int("filters", 8, 32, default=16), "kernel_size": hp.choice("kernel_size", [3, 5])}

    def build(self, inputs, params, context):
        from keras import layers

        x = layers.Conv2D(params["filters"], 3, padding="same", activation="relu")(inputs)
        return layers.GlobalAveragePooling2D()(x)


class UnseededDropoutNet(Architecture):
    """A Dropout without seed=context.seed."""

    name = "unseeded_dropout_net"
    tasks = ("image", "tabular")

    def space(self, hp):
        return {"units": hp.int("units", 16, 64, default=32), "dropout": hp.float("dropout", 0.1, 0.5, default=0.2)}

    def build(self, inputs, params, context):
        from keras import layers

        x = layers.Flatten()(inputs) if len(context.input_shape) > 1 else inputs
        x = layers.Dense(params["units"], activation="relu")(x)
        return layers.Dropout(params["dropout"])(x)


class RandomWidthNet(Architecture):
    """Draws its width from Python's random inside build, so the recorded hyperparameters do not describe it."""

    name = "random_width_net"
    tasks = ("image", "tabular")

    def space(self, hp):
        return {"layers": hp.int("layers", 1, 2, default=1)}

    def build(self, inputs, params, context):
        from keras import layers

        x = layers.Flatten()(inputs) if len(context.input_shape) > 1 else inputs
        for _ in range(params["layers"]):
            x = layers.Dense(random.choice([16, 32, 64, 128]), activation="relu")(x)
        return x


class ActiveAtInference(Augmentation):
    """Dims the images at prediction time too (a Rescaling is not a random training-only layer)."""

    name = "active_at_inference"

    def space(self, hp):
        return {"scale": hp.float("scale", 0.5, 0.9, default=0.8)}

    def layers(self, params, context):
        from keras import layers

        return [layers.Rescaling(params["scale"])]


class UnseededFlip(Augmentation):
    """A random layer without a seed."""

    name = "unseeded_flip"

    def space(self, hp):
        return {"mode": hp.choice("mode", ["horizontal", "vertical"])}

    def layers(self, params, context):
        from keras import layers

        return [layers.RandomFlip(params["mode"])]


class FixedRateAdam(Optimizer):
    """Declares the shared learning-rate space, then builds with a constant of its own."""

    name = "fixed_rate_adam"

    def space(self, hp):
        return learning_rate_space(hp, 1e-4, 1e-2, default=1e-3)

    def build(self, params, context):
        import keras

        return keras.optimizers.Adam(1e-3)


class TypoLogger(Logger):
    """automl_trial_epochs: no such hook, so pluggy never calls it."""

    name = "typo_logger"

    @hookimpl
    def automl_trial_epochs(self, run_dir, trial, epoch, logs):
        pass


class UnmarkedLogger(Logger):
    """The right name, but no @hookimpl."""

    name = "unmarked_logger"

    def automl_trial_epoch(self, run_dir, trial, epoch, logs):
        pass


class RaisingLogger(Logger):
    """Fails on the first finished trial (a record without a key it expects)."""

    name = "raising_logger"

    @hookimpl
    def automl_trial_finished(self, run_dir, record):
        return record["candidate"]["architecture"]  # a failed trial's record has no candidate
