"""The alternatives automl is measured against, written the way their users write them.

One hypermodel — the digits CNN family of automl's ``cnn`` plugin (blocks, filters, convolutions per block,
kernel size, batch norm, dense units, dropout) with Adam and a log-uniform learning rate — driven two ways:

* ``kerastuner``: ``keras_tuner.Hyperband`` (max 30 epochs, factor 3) over numpy arrays, with early stopping;
* ``optuna_random``: a hand-rolled Optuna loop, ``RandomSampler``, no pruning, ``model.fit`` over numpy
  arrays for up to 30 epochs with early stopping (patience 5, best weights restored).

Both get the same train / validation / test split as ``automl search builtin:digits --seed S`` (automl's own
loader with that seed), the same wall-clock budget (checked between trials and between epochs, as automl's
``--time-budget`` is), and report every finished trial's time since the process was launched and its best
validation accuracy, then the test accuracy of the trial with the best validation accuracy.

    python benchmarks/baselines.py kerastuner|optuna_random --seed S --budget SECONDS --out RESULT.json
        [--launched-at UNIX_TIME]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

MAX_EPOCHS = 30
PATIENCE = 5


def build_cnn(hp, input_shape, classes: int, scale: float):
    """The hypermodel: ``hp`` has KerasTuner's interface (``Int``, ``Float``, ``Choice``)."""
    import keras
    from keras import layers

    inputs = keras.Input(input_shape)
    x = layers.Rescaling(scale)(inputs)
    filters = hp.Int("filters", 16, 128, sampling="log")
    size = min(input_shape[:2])
    batch_norm = hp.Choice("batch_norm", [0, 1]) == 1
    kernel = hp.Choice("kernel_size", [3, 5])
    convs = hp.Int("convs_per_block", 1, 2)
    for _ in range(hp.Int("blocks", 1, 3)):
        for _ in range(convs):
            x = layers.Conv2D(filters, kernel, padding="same", use_bias=not batch_norm)(x)
            if batch_norm:
                x = layers.BatchNormalization()(x)
            x = layers.Activation("relu")(x)
        if size >= 2:
            x = layers.MaxPooling2D(2)(x)
            size //= 2
        filters *= 2
    x = layers.Flatten()(x)
    x = layers.Dense(hp.Int("dense_units", 32, 256, sampling="log"), activation="relu")(x)
    x = layers.Dropout(hp.Float("dropout", 0.0, 0.5))(x)
    outputs = layers.Dense(classes, activation="softmax")(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


class OptunaHP:
    """KerasTuner's ``hp`` interface over an Optuna trial, so both tools search the same hypermodel."""

    def __init__(self, trial) -> None:
        self.trial = trial

    def Int(self, name, low, high, sampling=None):  # KerasTuner's spelling
        return self.trial.suggest_int(name, low, high, log=sampling == "log")

    def Float(self, name, low, high, sampling=None):
        return self.trial.suggest_float(name, low, high, log=sampling == "log")

    def Choice(self, name, values):
        return self.trial.suggest_categorical(name, values)


def deadline_callback(deadline: float):
    import keras

    class StopAtDeadline(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if time.time() >= deadline:
                self.model.stop_training = True

    return StopAtDeadline()


def run_kerastuner(data, seed: int, deadline: float, launched_at: float, events: list) -> float:
    import keras
    import keras_tuner as kt

    class Tuner(kt.Hyperband):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            score = trial.metrics.get_best_value("val_accuracy") if trial.metrics.exists("val_accuracy") else None
            if score is not None:
                events.append([time.time() - launched_at, float(score)])
            if time.time() >= deadline:  # the oracle hands out no further trial
                self.oracle.max_trials = len(self.oracle.trials)

    x_train, y_train, x_val, y_val, x_test, y_test, classes, scale = data
    with tempfile.TemporaryDirectory() as folder:
        tuner = Tuner(lambda hp: build_cnn(hp, x_train.shape[1:], classes, scale), objective="val_accuracy",
                      max_epochs=MAX_EPOCHS, factor=3, seed=seed + 1, directory=folder, project_name="digits",
                      overwrite=True)
        tuner.search(x_train, y_train, validation_data=(x_val, y_val), verbose=0,
                     callbacks=[keras.callbacks.EarlyStopping(patience=PATIENCE), deadline_callback(deadline)])
        best = tuner.get_best_models(1)[0]
        return float(best.evaluate(x_test, y_test, verbose=0)[1])


def run_optuna_random(data, seed: int, deadline: float, launched_at: float, events: list) -> float:
    import keras
    import optuna

    x_train, y_train, x_val, y_val, x_test, y_test, classes, scale = data
    best = {"score": -1.0, "model": None}

    def objective(trial):
        keras.backend.clear_session(free_memory=False)
        model = build_cnn(OptunaHP(trial), x_train.shape[1:], classes, scale)
        history = model.fit(x_train, y_train, validation_data=(x_val, y_val), epochs=MAX_EPOCHS, batch_size=32,
                            verbose=0, callbacks=[keras.callbacks.EarlyStopping(patience=PATIENCE,
                                                                                restore_best_weights=True),
                                                  deadline_callback(deadline)])
        score = float(max(history.history["val_accuracy"]))
        events.append([time.time() - launched_at, score])
        if score > best["score"]:
            best.update(score=score, model=model)
        return score

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.RandomSampler(seed=seed))
    study.optimize(objective, timeout=max(1.0, deadline - time.time()))
    return float(best["model"].evaluate(x_test, y_test, verbose=0)[1])


def load(seed: int):
    import numpy as np

    from automl.data import load_dataset

    dataset = load_dataset("builtin:digits", seed=seed)  # the split automl uses with --seed SEED
    scale = 1.0 / float(np.max(dataset.x_train))
    return (dataset.x_train, dataset.y_train, dataset.x_val, dataset.y_val, dataset.x_test, dataset.y_test,
            len(dataset.class_names), scale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tool", choices=["kerastuner", "optuna_random"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of search, as automl's --time-budget")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--launched-at", type=float, default=None, help="when the parent started this process")
    args = parser.parse_args()
    launched_at = args.launched_at or time.time()

    import keras

    data = load(args.seed)
    keras.utils.set_random_seed(args.seed)
    deadline = time.time() + args.budget  # like automl: the budget starts once the data is loaded
    events: list[list[float]] = []
    run = run_kerastuner if args.tool == "kerastuner" else run_optuna_random
    test_accuracy = run(data, args.seed, deadline, launched_at, events)
    args.out.write_text(json.dumps({"tool": args.tool, "seed": args.seed, "budget": args.budget,
                                    "test_accuracy": test_accuracy, "trials": events,
                                    "seconds": time.time() - launched_at}))


if __name__ == "__main__":
    main()
