"""Built-in architectures: ``mlp``, ``cnn``, ``resnet`` and ``transfer``."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from automl import Architecture, BuildContext, hookimpl

log = logging.getLogger(__name__)

# Keras' default moving-average momentum (0.99) needs several hundred steps before the inference-mode
# statistics match the data; a small dataset has a few dozen steps an epoch, so validation scores stay
# near chance for the first epochs and early stopping ends the trial there. 0.9 settles within an epoch.
BN_MOMENTUM = 0.9


class MLP(Architecture):
    """Fully connected layers; images are flattened first."""

    name = "mlp"
    tasks = ("image", "tabular")
    description = "Dense layers with dropout (tabular data, or flattened images)."

    def space(self, hp):
        return {
            "layers": hp.int("layers", 1, 3, default=2),
            "units": hp.int("units", 32, 512, log=True, default=128),
            "dropout": hp.float("dropout", 0.0, 0.5, default=0.2),
            "activation": hp.choice("activation", ["relu", "gelu", "swish"], default="relu"),
            "batch_norm": hp.choice("batch_norm", [False, True], default=False),
        }

    def build(self, inputs, params: dict[str, Any], context: BuildContext):
        from keras import layers

        x = layers.Flatten()(inputs) if len(context.input_shape) > 1 else inputs
        units = params["units"]
        for _ in range(params["layers"]):
            x = layers.Dense(units, use_bias=not params["batch_norm"])(x)
            if params["batch_norm"]:
                x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            x = layers.Activation(params["activation"])(x)
            if params["dropout"] > 0:
                x = layers.Dropout(params["dropout"], seed=context.seed)(x)
            units = max(16, units // 2)  # funnel shape: each layer half as wide
        return x


class Linear(Architecture):
    """No hidden layer: the head sits on the standardised features, so the model is a linear regression (a
    logistic one for classes). On small tables it is often the model to beat (diabetes, breast_cancer); input
    dropout regularises it as a ridge penalty would."""

    name = "linear"
    tasks = ("tabular",)
    description = "No hidden layer: linear or logistic regression on the features, with input dropout."

    def space(self, hp):
        return {"dropout": hp.float("dropout", 0.0, 0.5, default=0.1)}

    def build(self, inputs, params: dict[str, Any], context: BuildContext):
        from keras import layers

        if params["dropout"] > 0:
            return layers.Dropout(params["dropout"], seed=context.seed)(inputs)
        return layers.Identity()(inputs)


# A CNN on photos (inputs of at least this many pixels a side) pools globally before its dense layer, as the
# tutorials' photo CNNs do; a Flatten there would make the dense layer grow with the input (2 M weights at
# 64x64 after two blocks) and learn where a shape is instead of what it is. Small inputs (8x8 digits) keep
# the Flatten, which knows where in the picture each feature is.
GLOBAL_POOLING_MIN_SIDE = 32


class CNN(Architecture):
    """The tutorials' Sequential CNN family: conv blocks (conv, conv?, pool), then a dense layer."""

    name = "cnn"
    tasks = ("image",)
    description = ("Stacked Conv2D blocks with max pooling, then global pooling (photos) or a flatten (small "
                   "images), and a dense layer with dropout.")

    def space(self, hp):
        return {
            "blocks": hp.int("blocks", 1, 5, default=2),
            "filters": hp.int("filters", 16, 128, log=True, default=32),
            "convs_per_block": hp.int("convs_per_block", 1, 2, default=1),
            "kernel_size": hp.choice("kernel_size", [3, 5], default=3),
            "batch_norm": hp.choice("batch_norm", [False, True], default=False),
            "dense_units": hp.int("dense_units", 32, 256, log=True, default=128),
            "dropout": hp.float("dropout", 0.0, 0.5, default=0.25),
        }

    def build(self, inputs, params: dict[str, Any], context: BuildContext):
        from keras import layers

        x = inputs
        size = min(context.input_shape[:2])
        global_pooling = size >= GLOBAL_POOLING_MIN_SIDE
        filters = params["filters"]
        for _ in range(params["blocks"]):
            for _ in range(params["convs_per_block"]):
                x = layers.Conv2D(filters, params["kernel_size"], padding="same", use_bias=not params["batch_norm"])(x)
                if params["batch_norm"]:
                    x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
                x = layers.Activation("relu")(x)
            if size >= 2:  # small inputs (8x8 digits) run out of room for pooling after three blocks
                x = layers.MaxPooling2D(2)(x)
                size //= 2
            filters *= 2
        x = layers.GlobalAveragePooling2D()(x) if global_pooling else layers.Flatten()(x)
        x = layers.Dense(params["dense_units"], activation="relu")(x)
        if params["dropout"] > 0:
            x = layers.Dropout(params["dropout"], seed=context.seed)(x)
        return x


class ResNet(Architecture):
    """A small pre-activation-free residual network suited to small images (CIFAR-style stages)."""

    name = "resnet"
    tasks = ("image",)
    description = "Small residual network: a stem conv and 1-3 stages of residual blocks, global pooling."

    def space(self, hp):
        return {
            "width": hp.int("width", 16, 64, log=True, default=32),
            "stages": hp.int("stages", 1, 3, default=2),
            "blocks_per_stage": hp.int("blocks_per_stage", 1, 2, default=1),
            "dropout": hp.float("dropout", 0.0, 0.5, default=0.1),
        }

    def build(self, inputs, params: dict[str, Any], context: BuildContext):
        from keras import layers

        def conv_bn(x, filters, strides=1, activation=True):
            x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False)(x)
            x = layers.BatchNormalization(momentum=BN_MOMENTUM)(x)
            return layers.Activation("relu")(x) if activation else x

        filters = params["width"]
        x = conv_bn(inputs, filters)
        size = min(context.input_shape[:2])
        for stage in range(params["stages"]):
            for block in range(params["blocks_per_stage"]):
                downsample = stage > 0 and block == 0 and size >= 2
                strides = 2 if downsample else 1
                shortcut = x
                y = conv_bn(x, filters, strides)
                y = conv_bn(y, filters, activation=False)
                if downsample or shortcut.shape[-1] != filters:
                    shortcut = layers.Conv2D(filters, 1, strides=strides, use_bias=False)(shortcut)
                    shortcut = layers.BatchNormalization(momentum=BN_MOMENTUM)(shortcut)
                x = layers.Activation("relu")(layers.Add()([shortcut, y]))
                if downsample:
                    size = (size + 1) // 2
            filters *= 2
        x = layers.GlobalAveragePooling2D()(x)
        if params["dropout"] > 0:
            x = layers.Dropout(params["dropout"], seed=context.seed)(x)
        return x


# backbone name -> (keras.applications constructor, cached no-top weights file, input scaling to its range as
# (scale, offset), the channel order its weights expect). The inputs arrive in [0, 1]; offset is one number or
# one per (RGB) channel. ResNet50 uses "caffe" preprocessing: BGR, 0..255, ImageNet channel means subtracted.
BACKBONES: dict[str, tuple[str, str, tuple[float, float | tuple[float, float, float]], str]] = {
    "mobilenet_v3_small": ("MobileNetV3Small", "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5", (2.0, -1.0),
                           "rgb"),
    "mobilenet_v2": ("MobileNetV2", "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_{size}_no_top.h5",
                     (2.0, -1.0), "rgb"),
    "efficientnet_b0": ("EfficientNetB0", "efficientnetb0_notop.h5", (255.0, 0.0), "rgb"),
    "resnet50": ("ResNet50", "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
                 (255.0, (-123.68, -116.779, -103.939)), "bgr"),
}
# The first convolution of each "bgr" backbone, whose kernel's input-channel axis is reversed after loading.
FIRST_CONV = {"resnet50": "conv1_conv"}


def cached_weights(backbone: str, image_size: int) -> Path | None:
    """The backbone's ImageNet weights if a local copy exists (never downloaded at run time).

    Looked up in ``$AUTOML_WEIGHTS_DIR`` and then in Keras' cache (``$KERAS_HOME/models``, default
    ``~/.keras/models``), where ``keras.applications`` stores what it downloaded before.
    """
    file_name = BACKBONES[backbone][1].format(size=image_size)
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    for folder in (os.environ.get("AUTOML_WEIGHTS_DIR"), keras_home / "models"):
        if folder and (Path(folder) / file_name).is_file():
            return Path(folder) / file_name
    return None


class Transfer(Architecture):
    """A ``keras.applications`` backbone with a new head, as in the transfer-learning tutorial.

    With local ImageNet weights the backbone is frozen; without them it is randomly initialised and
    trained (a frozen random backbone would learn nothing), and a message says so.
    """

    name = "transfer"
    tasks = ("image",)
    description = "Pretrained keras.applications backbone (frozen when weights are cached), new head."

    def space(self, hp):
        return {
            "backbone": hp.choice("backbone", list(BACKBONES), default="mobilenet_v3_small"),
            "image_size": hp.choice("image_size", [32, 64, 96, 128], default=32),
            "dropout": hp.float("dropout", 0.0, 0.5, default=0.2),
        }

    def build(self, inputs, params: dict[str, Any], context: BuildContext):
        import keras
        from keras import layers

        backbone = params["backbone"]
        size = params["image_size"]
        constructor, _, (scale, offset), channels = BACKBONES[backbone]
        if backbone == "mobilenet_v2" and size < 96:
            size = 96  # MobileNetV2's ImageNet weights exist from 96x96 up
        x = layers.Resizing(size, size)(inputs)
        if context.input_shape[-1] == 1:
            x = layers.Concatenate()([x, x, x])  # grayscale to the 3 channels ImageNet backbones expect
        x = layers.Rescaling(scale, offset=list(offset) if isinstance(offset, tuple) else offset)(x)
        weights = cached_weights(backbone, size)
        if weights is None:
            log.warning(
                "transfer: no cached ImageNet weights for %s; training it from random initialisation. "
                "Put the file in ~/.keras/models or $AUTOML_WEIGHTS_DIR to fine-tune pretrained weights.",
                backbone,
            )
        kwargs: dict[str, Any] = {"include_top": False, "weights": str(weights) if weights else None,
                                  "input_shape": (size, size, 3), "pooling": "avg"}
        if backbone.startswith("mobilenet_v3"):
            kwargs["include_preprocessing"] = False
        base = getattr(keras.applications, constructor)(**kwargs)
        if weights and channels == "bgr":
            # The weights expect BGR inputs. Rather than a channel-swapping layer (a Lambda is refused by
            # safe_mode reloads), the inputs stay RGB (the means above are in RGB order) and the first
            # convolution's kernel is reversed along its input-channel axis (kernel: height, width, in, out):
            # sum_c k[..., 2 - c, :] * rgb[c] == sum_c k[..., c, :] * bgr[c], so the net computes what it would
            # on BGR. The flipped kernel is what the model saves, so a reload needs no further step.
            conv = base.get_layer(FIRST_CONV[backbone])
            kernel, *rest = conv.get_weights()
            conv.set_weights([kernel[:, :, ::-1, :], *rest])
        base.trainable = weights is None
        x = base(x, training=False if weights else None)
        if params["dropout"] > 0:
            x = layers.Dropout(params["dropout"], seed=context.seed)(x)
        return x


@hookimpl
def automl_register_architectures():
    return [MLP(), Linear(), CNN(), ResNet(), Transfer()]
