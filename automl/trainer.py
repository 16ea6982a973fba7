"""Training one candidate: a plain function of (dataset, candidate) → :class:`TrialResult`.

Inside every trial early stopping (on ``val_loss``, restoring the best weights, kept in memory) and
non-finite-loss termination always run; after each epoch the validation objective is reported to the
backend, whose pruner may stop the trial. Exceptions from plugin code become a ``failed`` result: the
search goes on.
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from automl.model import build_model, compile_model, input_scaling
from automl.plugin import BuildContext
from automl.plugin_manager import Registry
from automl.search_space import Candidate

if TYPE_CHECKING:
    import keras

    from automl.data import Dataset

COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"


class TrialReporter(Protocol):
    """What the backend gives the trainer: per-epoch reports and the pruning decision."""

    def report(self, epoch: int, value: float) -> bool:
        """Record the validation objective after ``epoch`` (0-based); return True to prune the trial."""


class NoPruning:
    def report(self, epoch: int, value: float) -> bool:
        return False


@dataclass
class TrialResult:
    status: str  # complete | pruned | failed
    reason: str = ""
    val_accuracy: float = math.nan  # at the best epoch (lowest val_loss), whose weights the model holds
    val_loss: float = math.nan
    objective: float = math.nan
    epochs: int = 0  # epochs actually run
    best_epoch: int = 0  # 1-based
    train_seconds: float = 0.0
    param_count: int = 0
    history: dict[str, list[float]] = field(default_factory=dict)
    traceback: str = ""
    model: keras.Model | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        """The JSON-able part, stored with the trial."""
        return {k: v for k, v in self.__dict__.items() if k != "model"}



class _PipelineCache:
    """tf.data pipelines built once per process and dataset (the data are small; cache() keeps them in memory)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}

    def get(self, dataset: Dataset, split: str, batch_size: int, seed: int):
        import tensorflow as tf

        key = (id(dataset), split, batch_size)
        if key not in self._cache:
            x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
            ds = tf.data.Dataset.from_tensor_slices((x, y)).cache()
            if split == "train":
                ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
            self._cache[key] = ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)
            if len(self._cache) > 16:  # a new dataset in a long-lived process: forget the oldest
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]


pipelines = _PipelineCache()


def build_context(dataset: Dataset, candidate: Candidate, seed: int) -> BuildContext:
    steps = max(1, math.ceil(len(dataset.x_train) / candidate.batch_size))
    return BuildContext(dataset.task, tuple(dataset.input_shape), dataset.num_classes, seed, steps, candidate.max_epochs)


def train_candidate(
    dataset: Dataset,
    candidate: Candidate,
    registry: Registry,
    *,
    seed: int = 0,
    objective: str = "val_accuracy",
    reporter: TrialReporter | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    deadline: float | None = None,
) -> TrialResult:
    """Build, compile and fit ``candidate`` on ``dataset``; never raises for a plugin's fault."""
    import keras

    quiet_tensorflow()
    reporter = reporter or NoPruning()
    started = time.perf_counter()
    keras.backend.clear_session()  # drop graphs of earlier trials in this process
    keras.utils.set_random_seed(seed)
    context = build_context(dataset, candidate, seed)
    try:
        model = build_model(candidate, registry, context, _scaling(dataset))
        compile_model(model, candidate, registry, context)
    except Exception as exc:  # noqa: BLE001 - plugin code: the trial fails, the search goes on
        return TrialResult(FAILED, f"build failed: {type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                           train_seconds=time.perf_counter() - started)

    monitor = _monitor_class()(reporter, objective, on_epoch, deadline)
    callbacks = [
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=candidate.patience, restore_best_weights=True),
        monitor,
    ]
    try:
        history = model.fit(
            pipelines.get(dataset, "train", candidate.batch_size, seed),
            validation_data=pipelines.get(dataset, "val", candidate.batch_size, seed),
            epochs=candidate.max_epochs,
            callbacks=callbacks,
            shuffle=False,  # the tf.data pipeline already reshuffles every epoch
            verbose=0,
        ).history
    except Exception as exc:  # noqa: BLE001
        return TrialResult(FAILED, f"training failed: {type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                           epochs=monitor.epochs, train_seconds=time.perf_counter() - started,
                           param_count=model.count_params())

    history = {k: [float(v) for v in values] for k, values in history.items()}
    result = TrialResult(COMPLETE, epochs=monitor.epochs, train_seconds=time.perf_counter() - started,
                         param_count=model.count_params(), history=history, model=model)
    if monitor.non_finite is not None:
        result.status, result.reason, result.model = FAILED, monitor.non_finite, None
        return result
    val_loss = history.get("val_loss", [])
    if not val_loss:
        result.status, result.reason, result.model = FAILED, "no epoch finished", None
        return result
    best = min(range(len(val_loss)), key=val_loss.__getitem__)
    result.best_epoch = best + 1
    result.val_loss = val_loss[best]
    result.val_accuracy = history["val_accuracy"][best]
    result.objective = result.val_accuracy if objective == "val_accuracy" else result.val_loss
    if monitor.pruned:
        result.status, result.reason = PRUNED, f"pruned after epoch {monitor.epochs}"
        # The pruner's verdict uses the reported value at that epoch; keep the best seen for the row.
        result.objective = max(history[objective]) if objective == "val_accuracy" else min(history[objective])
    elif monitor.out_of_time:
        result.reason = f"stopped by the time budget after epoch {monitor.epochs}"
    return result


def refit_candidate(dataset: Dataset, candidate: Candidate, registry: Registry, *, epochs: int,
                    seed: int = 0) -> keras.Model:
    """Retrain ``candidate`` from scratch on train + validation for ``epochs`` epochs (its best epoch count).

    There is no validation split left to stop on, so the epoch count comes from the search. The input
    scaling is re-estimated on the combined data. Raises :class:`ExportError` if training diverges.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    from automl.errors import ExportError

    if epochs < 1:
        raise ExportError(f"refit needs at least one epoch; the trial's best epoch count is {epochs}.")
    quiet_tensorflow()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    steps = max(1, math.ceil(len(x) / candidate.batch_size))
    context = BuildContext(dataset.task, tuple(dataset.input_shape), dataset.num_classes, seed, steps, epochs)
    model = build_model(candidate, registry, context, input_scaling(dataset.task, dataset.preprocessing, x))
    compile_model(model, candidate, registry, context)
    data = (tf.data.Dataset.from_tensor_slices((x, y)).cache().shuffle(len(x), seed=seed)
            .batch(candidate.batch_size).prefetch(tf.data.AUTOTUNE))
    history = model.fit(data, epochs=epochs, verbose=0, callbacks=[keras.callbacks.TerminateOnNaN()]).history
    losses = history.get("loss", [])
    if len(losses) < epochs or not all(math.isfinite(v) for v in losses):
        raise ExportError(f"refit on train + validation diverged (training losses {losses}); export the searched "
                          "model instead (leave out --refit).")
    return model


@functools.cache
def quiet_tensorflow() -> None:
    """Each trial builds a new model, so tf.function retracing warnings are expected noise here."""
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def _scaling(dataset: Dataset) -> dict[str, Any]:
    # Cached on the dataset object: the tabular statistics only depend on the training split.
    cached = getattr(dataset, "_automl_scaling", None)
    if cached is None:
        cached = input_scaling(dataset.task, dataset.preprocessing, dataset.x_train)
        object.__setattr__(dataset, "_automl_scaling", cached)
    return cached


@functools.cache
def _monitor_class():
    """Keras is imported lazily, so the callback class is made on first use."""
    import keras

    class TrialMonitor(keras.callbacks.Callback):
        """Stops on a non-finite loss, reports each epoch to the pruner, honours the deadline."""

        def __init__(self, reporter, objective, on_epoch, deadline):
            super().__init__()
            self.reporter, self.objective, self.on_epoch, self.deadline = reporter, objective, on_epoch, deadline
            self.epochs = 0
            self.pruned = False
            self.out_of_time = False
            self.non_finite: str | None = None

        def on_train_batch_end(self, batch, logs=None):
            loss = (logs or {}).get("loss")
            if loss is not None and not math.isfinite(float(loss)):
                self.non_finite = f"non-finite training loss ({float(loss)}) in epoch {self.epochs + 1}"
                self.model.stop_training = True

        def on_epoch_end(self, epoch, logs=None):
            logs = {k: float(v) for k, v in (logs or {}).items()}
            self.epochs = epoch + 1
            for key in ("loss", "val_loss", self.objective):
                if key in logs and not math.isfinite(logs[key]):
                    self.non_finite = f"non-finite {key} ({logs[key]}) after epoch {epoch + 1}"
                    self.model.stop_training = True
                    return
            if self.on_epoch is not None:
                self.on_epoch(epoch, logs)
            if self.reporter.report(epoch, logs[self.objective]):
                self.pruned = True
                self.model.stop_training = True
            elif self.deadline is not None and time.monotonic() > self.deadline:
                self.out_of_time = True
                self.model.stop_training = True

    return TrialMonitor
