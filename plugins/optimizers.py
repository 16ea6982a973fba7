"""Built-in optimizers. Each declares its own learning-rate range and an optional schedule
(``constant``, ``cosine`` decay, or linear ``warmup_cosine``) through the shared helpers."""

from __future__ import annotations

from automl import Optimizer, hookimpl
from automl.plugin import learning_rate, learning_rate_space


class Adam(Optimizer):
    name = "adam"
    description = "Adam; the robust default."

    def space(self, hp):
        return learning_rate_space(hp, 1e-4, 1e-2, default=1e-3)

    def build(self, params, context):
        import keras

        return keras.optimizers.Adam(learning_rate(params, context))


class AdamW(Optimizer):
    name = "adamw"
    description = "Adam with decoupled weight decay."

    def space(self, hp):
        return {**learning_rate_space(hp, 1e-4, 1e-2, default=1e-3),
                "weight_decay": hp.float("weight_decay", 1e-5, 1e-1, log=True, default=4e-3)}

    def build(self, params, context):
        import keras

        return keras.optimizers.AdamW(learning_rate(params, context), weight_decay=params["weight_decay"])


class SGD(Optimizer):
    name = "sgd"
    description = "Stochastic gradient descent with (Nesterov) momentum."

    def space(self, hp):
        return {**learning_rate_space(hp, 1e-3, 3e-1, default=3e-2),
                "momentum": hp.float("momentum", 0.0, 0.95, default=0.9),
                "nesterov": hp.choice("nesterov", [False, True], default=True)}

    def build(self, params, context):
        import keras

        return keras.optimizers.SGD(learning_rate(params, context), momentum=params["momentum"],
                                    nesterov=params["nesterov"])


class RMSprop(Optimizer):
    name = "rmsprop"
    description = "RMSprop."

    def space(self, hp):
        return {**learning_rate_space(hp, 1e-4, 1e-2, default=1e-3),
                "rho": hp.float("rho", 0.8, 0.99, default=0.9)}

    def build(self, params, context):
        import keras

        return keras.optimizers.RMSprop(learning_rate(params, context), rho=params["rho"])


class Lion(Optimizer):
    name = "lion"
    description = "Lion (sign-based momentum); use a 3-10x smaller learning rate than Adam."

    def space(self, hp):
        return {**learning_rate_space(hp, 1e-5, 1e-3, default=1e-4),
                "weight_decay": hp.float("weight_decay", 1e-5, 1e-1, log=True, default=1e-2)}

    def build(self, params, context):
        import keras

        return keras.optimizers.Lion(learning_rate(params, context), weight_decay=params["weight_decay"])


class Nadam(Optimizer):
    name = "nadam"
    description = "Adam with Nesterov momentum."

    def space(self, hp):
        return learning_rate_space(hp, 1e-4, 1e-2, default=1e-3)

    def build(self, params, context):
        import keras

        return keras.optimizers.Nadam(learning_rate(params, context))


@hookimpl
def automl_register_optimizers():
    return [Adam(), AdamW(), SGD(), RMSprop(), Lion(), Nadam()]
