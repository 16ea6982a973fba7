"""Built-in augmentations. Keras' random preprocessing layers act only when ``training=True``, so the
exported model applies none of them at prediction time.

The geometric ones fill the pixels they uncover with black (``constant``, right for digits on a black
ground) or with the image mirrored at its edge (``reflect``, the tutorials' choice for photos, where a black
corner would be a strong edge that is not part of the scene): their ``fill_mode`` parameter.
"""

from __future__ import annotations

from automl import Augmentation, hookimpl

FILL_MODES = ["constant", "reflect"]


def fill_mode(hp):
    return hp.choice("fill_mode", FILL_MODES, default="constant")


class NoAugmentation(Augmentation):
    name = "none"
    tasks = ("image", "tabular")
    description = "No augmentation."

    def layers(self, params, context):
        return []


class Flip(Augmentation):
    name = "flip"
    description = "Random horizontal and/or vertical flips."

    def space(self, hp):
        return {"mode": hp.choice("mode", ["horizontal", "vertical", "horizontal_and_vertical"], default="horizontal")}

    def layers(self, params, context):
        from keras import layers

        return [layers.RandomFlip(params["mode"], seed=context.seed)]


class Rotation(Augmentation):
    name = "rotation"
    description = "Random rotation by up to ±factor × 360°."

    def space(self, hp):
        return {"factor": hp.float("factor", 0.01, 0.2, default=0.05), "fill_mode": fill_mode(hp)}

    def layers(self, params, context):
        from keras import layers

        return [layers.RandomRotation(params["factor"], fill_mode=params["fill_mode"], seed=context.seed)]


class Zoom(Augmentation):
    name = "zoom"
    description = "Random zoom in/out by up to ±factor."

    def space(self, hp):
        return {"factor": hp.float("factor", 0.02, 0.3, default=0.1), "fill_mode": fill_mode(hp)}

    def layers(self, params, context):
        from keras import layers

        return [layers.RandomZoom(params["factor"], fill_mode=params["fill_mode"], seed=context.seed)]


class Translation(Augmentation):
    name = "translation"
    description = "Random shift by up to ±factor of the height and width."

    def space(self, hp):
        return {"factor": hp.float("factor", 0.02, 0.2, default=0.1), "fill_mode": fill_mode(hp)}

    def layers(self, params, context):
        from keras import layers

        f = params["factor"]
        return [layers.RandomTranslation(f, f, fill_mode=params["fill_mode"], seed=context.seed)]


class Contrast(Augmentation):
    name = "contrast"
    description = "Random contrast change by up to ±factor."

    def space(self, hp):
        return {"factor": hp.float("factor", 0.05, 0.5, default=0.2)}

    def layers(self, params, context):
        from keras import layers

        # automl scales images to [0, 1] before augmentation.
        return [layers.RandomContrast(params["factor"], value_range=(0.0, 1.0), seed=context.seed)]


class Mixed(Augmentation):
    """The tutorials' ImageDataGenerator mix: rotate, shift, shear-like zoom, optional flip."""

    name = "mixed"
    description = "Rotation + translation + zoom (+ optional horizontal flip), as in the tutorials."

    def space(self, hp):
        return {
            "strength": hp.float("strength", 0.02, 0.2, default=0.1),
            "flip": hp.choice("flip", [False, True], default=False),
            "fill_mode": fill_mode(hp),
        }

    def layers(self, params, context):
        from keras import layers

        s, seed, fill = params["strength"], context.seed, params["fill_mode"]
        stack = [
            layers.RandomRotation(s / 2, fill_mode=fill, seed=seed),
            layers.RandomTranslation(s, s, fill_mode=fill, seed=seed + 1),
            layers.RandomZoom(s, fill_mode=fill, seed=seed + 2),
        ]
        if params["flip"]:
            stack.append(layers.RandomFlip("horizontal", seed=seed + 3))
        return stack


class GaussianNoise(Augmentation):
    name = "noise"
    tasks = ("image", "tabular")
    description = "Additive Gaussian noise on the (scaled) inputs."

    def space(self, hp):
        return {"stddev": hp.float("stddev", 0.005, 0.2, log=True, default=0.05)}

    def layers(self, params, context):
        from keras import layers

        return [layers.GaussianNoise(params["stddev"], seed=context.seed)]


@hookimpl
def automl_register_augmentations():
    return [NoAugmentation(), Flip(), Rotation(), Zoom(), Translation(), Contrast(), Mixed(), GaussianNoise()]
