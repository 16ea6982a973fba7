"""Training one candidate: a plain function of (dataset, candidate) → :class:`TrialResult`.

Inside every trial early stopping (on ``val_loss``, restoring the best weights, kept in memory) and
non-finite-loss termination always run; after each epoch the validation objective is reported to the
backend, whose pruner may stop the trial. An objective Keras does not log (``val_f1_macro``…: see
`automl.objectives`) is scored from the model's predictions on the validation split by the first callback of
each epoch, so early stopping, the pruner's report and the history all see it; for regression that callback always
runs (``val_rmse``, ``val_mae``), and the chance level (a classification notion) is left out. Exceptions from plugin
code become a ``failed`` result: the search goes on.
"""

from __future__ import annotations

import functools
import math
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from automl.model import build_model, compile_model, input_scaling, target_scaling
from automl.objectives import OBJECTIVES, best_of, prediction_scores, problem_of
from automl.plugin import BuildContext
from automl.plugin_manager import Registry
from automl.search_space import Candidate, Constraints, EarlyStoppingRule, chance_level
from automl.signals import raise_if_interrupted

# A trial whose validation accuracy is still at chance after this many times its patience stops: the plateau
# can last 30-80 epochs on photos, so it is given long, but not the whole search's time.
CHANCE_PATIENCE_FACTOR = 3

if TYPE_CHECKING:
    import keras

    from automl.data import Dataset

COMPLETE, PRUNED, FAILED = "complete", "pruned", "failed"
# A trial that SIGINT or SIGTERM stopped: not its fault, so it is queued again whatever --max-retries says.
INTERRUPTED = "interrupted"


class TrialReporter(Protocol):
    """What the backend gives the trainer: per-epoch reports and the pruning decision."""

    def report(self, epoch: int, value: float) -> bool:
        """Record the validation objective after ``epoch`` (0-based); return True to prune the trial."""

    def measured(self, name: str, value: float) -> None:
        """The trial's second objective (``--objectives``: ``param_count`` once the model is built, ``latency_ms``
        after its first epoch), before the reports that follow; a pruner may weigh it. Called only in a search
        with two objectives; a reporter that prunes on the first objective alone ignores it."""


class NoPruning:
    def report(self, epoch: int, value: float) -> bool:
        return False

    def measured(self, name: str, value: float) -> None:
        pass


# Batch-1 latency: calls before timing (the first traces the function) and timed calls, of which the median counts.
LATENCY_WARMUP_CALLS = 3
LATENCY_TIMED_CALLS = 20


def measure_latency_ms(model: keras.Model, x_one: Any) -> float:
    """The median time in milliseconds of one prediction of one example (``x_one`` holds one row), through the
    model's compiled predict step as a deployed Keras model runs it."""
    import statistics

    for _ in range(LATENCY_WARMUP_CALLS):
        model.predict_on_batch(x_one)
    times = []
    for _ in range(LATENCY_TIMED_CALLS):
        started = time.perf_counter()
        model.predict_on_batch(x_one)
        times.append(time.perf_counter() - started)
    return 1000.0 * statistics.median(times)


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
    # The first epoch (1-based) whose val_accuracy was above chance; None: the trial never left chance.
    left_chance_epoch: int | None = None
    latency_ms: float = math.nan  # batch-1 prediction after the first epoch (with a latency limit or objective)
    traceback: str = ""
    # The objectives scored from predictions (val_balanced_accuracy, val_f1_macro, val_auc) at the best epoch,
    # when the search's objective is one of them; stored as fields of the record like val_accuracy.
    val_metrics: dict[str, float] = field(default_factory=dict)
    model: keras.Model | None = field(default=None, repr=False)

    def record(self) -> dict[str, Any]:
        """The JSON-able part, stored with the trial."""
        record = {k: v for k, v in self.__dict__.items() if k not in ("model", "val_metrics")}
        return {**record, **self.val_metrics}



def tf_dataset(x, y=None, batch_size: int = 256, *, shuffle_seed: int | None = None):
    """A batched, prefetched tf.data pipeline over inputs ``x`` (and labels ``y``), reshuffled each epoch when
    ``shuffle_seed`` is given.

    Small in-memory arrays are copied into the pipeline once and cached there. A cached image folder
    (`automl.data.CachedImages`) is read batch by batch from its shared memory map — shuffling row numbers,
    not pixels — and cast to float32 per batch, so no process holds a copy of the data set.
    """
    import numpy as np
    import tensorflow as tf

    from automl.data import CachedImages

    if not isinstance(x, CachedImages):
        ds = tf.data.Dataset.from_tensor_slices(x if y is None else (x, y)).cache()
        if shuffle_seed is not None:
            ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
        return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)

    labels = None if y is None else np.asarray(y, dtype=np.int64)
    ds = tf.data.Dataset.range(len(x))
    if shuffle_seed is not None:
        ds = ds.shuffle(len(x), seed=shuffle_seed, reshuffle_each_iteration=True)
    pixel_shape = (None, *x.shape[1:])

    @tf.autograph.experimental.do_not_convert  # plain Python branches: converting it costs ~0.5 s a pipeline
    def gather(positions):
        pixels = tf.numpy_function(x.take, [positions], tf.uint8, stateful=False)
        pixels = tf.cast(tf.ensure_shape(pixels, pixel_shape), tf.float32)
        if labels is None:
            return pixels
        return pixels, tf.ensure_shape(tf.numpy_function(labels.__getitem__, [positions], tf.int64,
                                                         stateful=False), (None,))

    return ds.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def predict(model, x, batch_size: int = 256):
    """``model.predict`` for any `Dataset` inputs, cached image folders included."""
    from automl.data import CachedImages

    if isinstance(x, CachedImages):
        return model.predict(tf_dataset(x, batch_size=batch_size), verbose=0)
    return model.predict(x, batch_size=batch_size, verbose=0)


class _PipelineCache:
    """tf.data pipelines built once per process and dataset split (a trial per batch size re-uses them)."""

    def __init__(self) -> None:
        self._cache: dict[tuple, Any] = {}

    def get(self, dataset: Dataset, split: str, batch_size: int, seed: int):
        key = (id(dataset), split, batch_size)
        if key not in self._cache:
            x, y = getattr(dataset, f"x_{split}"), getattr(dataset, f"y_{split}")
            self._cache[key] = tf_dataset(x, y, batch_size, shuffle_seed=seed if split == "train" else None)
            if len(self._cache) > 16:  # a new dataset in a long-lived process: forget the oldest
                self._cache.pop(next(iter(self._cache)))
        return self._cache[key]


pipelines = _PipelineCache()


def _weighted(pipeline, class_weight: dict[int, float], num_classes: int):
    """``pipeline`` with each example's class weight as its sample weight: the validation loss, which early
    stopping watches and whose best epoch a trial keeps, is then weighed as the training loss is (the compiled
    ``accuracy`` is not: Keras weighs only ``weighted_metrics``)."""
    import tensorflow as tf

    table = tf.constant([float(class_weight.get(index, 1.0)) for index in range(num_classes)], tf.float32)
    return pipeline.map(lambda x, y: (x, y, tf.gather(table, tf.cast(y, tf.int32))))


def build_context(dataset: Dataset, candidate: Candidate, seed: int) -> BuildContext:
    steps = max(1, math.ceil(len(dataset.x_train) / candidate.batch_size))
    return BuildContext(dataset.task, tuple(dataset.input_shape), dataset.num_classes, seed, steps, candidate.max_epochs,
                        problem_of(dataset))


def _target(dataset: Dataset, y: Any = None) -> dict[str, float] | None:
    """The regression head's rescaling (the training split's target statistics); None for classification."""
    if problem_of(dataset) != "regression":
        return None
    return target_scaling(dataset.y_train if y is None else y)


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
    checkpoint: Checkpointing | None = None,
    warm_start: WarmStart | None = None,
    early_stopping: EarlyStoppingRule | None = None,
    constraints: Constraints | None = None,
    class_weight: dict[int, float] | None = None,
) -> TrialResult:
    """Build, compile and fit ``candidate`` on ``dataset``; never raises for a plugin's fault.

    With ``constraints``, a model that breaks one is stopped at once and the trial is ``pruned`` with the reason
    (``params 25,410 > 20,000``, or ``latency 7.21 ms > 5 ms`` after the first epoch).

    With ``checkpoint``, the model, its optimizer state and the early-stopping state are saved after an epoch
    when ``checkpoint.every_seconds`` have passed since the last save, and a checkpoint left by an earlier,
    interrupted attempt at the same candidate is resumed from its epoch.

    With ``warm_start`` (a Hyperband promotion), training continues from the best weights of an earlier,
    shorter trial of the same candidate, from its epoch count up to ``candidate.max_epochs``, with a fresh
    optimizer whose schedule spans the remaining epochs; early stopping starts from that trial's best
    value, so the promoted trial never reports less than the trial it continues.

    ``early_stopping`` (the space's ``training.early_stopping``; default: ``val_loss`` from the first epoch)
    says what early stopping watches; the trial keeps the weights of that rule's best epoch and its row shows
    that epoch's scores.

    ``objective`` (a name of `automl.objectives.OBJECTIVES`) is what the reporter gets after each epoch; one
    scored from predictions is computed on the validation split every epoch, with the others of its problem.
    ``class_weight`` (class index → weight, see `automl.class_weights.resolve`) weighs the training loss and the
    validation loss alike, so early stopping keeps the epoch best by the loss the network was trained on.
    """
    import keras

    quiet_tensorflow()
    reporter = reporter or NoPruning()
    started = time.perf_counter()
    keras.backend.clear_session()  # drop graphs of earlier trials in this process
    keras.utils.set_random_seed(seed)
    context = build_context(dataset, candidate, seed)
    resumed = checkpoint.load(candidate) if checkpoint else None
    warm = warm_start if resumed is None else None  # a checkpoint of the continued trial already includes it
    if warm is not None:
        context = replace(context, epochs=max(1, candidate.max_epochs - warm.epoch))
    try:
        if resumed is not None:
            model = resumed.model
        else:
            model = build_model(candidate, registry, context, _scaling(dataset), _target(dataset))
            compile_model(model, annealed(candidate) if warm is not None and warm.anneal else candidate, registry,
                          context, _target(dataset))
            if warm is not None:
                model.load_weights(warm.weights)
    except Exception as exc:  # plugin code: the trial fails, the search goes on
        raise_if_interrupted()  # ... unless it is a stop that native code turned into its own error
        return TrialResult(FAILED, f"build failed: {type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                           train_seconds=time.perf_counter() - started)
    constraints = constraints if constraints is not None else Constraints()
    too_big = constraints.params_violation(model.count_params())
    if too_big:  # before any training: its size does not depend on it
        return TrialResult(PRUNED, too_big, param_count=model.count_params(), train_seconds=time.perf_counter() - started)
    if constraints.trade_off == "param_count":
        reporter.measured("param_count", model.count_params())

    rule = early_stopping or EarlyStoppingRule()
    problem = problem_of(dataset)
    if rule.chance is None and problem != "regression":  # a classification's chance level is that of its labels
        rule = replace(rule, chance=chance_level(dataset.y_val, dataset.num_classes),
                       chance_patience=CHANCE_PATIENCE_FACTOR * candidate.patience)
    monitor = _monitor_class()(reporter, objective, on_epoch, deadline)
    stopping_state = resumed.early_stopping if resumed else (warm.early_stopping(model, rule) if warm else None)
    stopper = _early_stopping_class()(candidate.patience, stopping_state, rule)
    callbacks = [stopper, monitor]
    latency = None
    if constraints.measures_latency:  # before the monitor: the first epoch's report comes after the measurement
        latency = _latency_check_class()(constraints, _one_example(dataset), reporter)
        callbacks.insert(callbacks.index(monitor), latency)
    if OBJECTIVES[objective].predicted or problem == "regression":  # first: its scores join the logs the others read
        val_inputs = pipelines.get(dataset, "val", candidate.batch_size, seed)
        callbacks.insert(0, validation_metrics_class()(val_inputs, dataset.y_val, problem))
    previous = resumed.history if resumed else (warm.history if warm else {})
    if checkpoint is not None:
        callbacks.append(_checkpoint_class()(checkpoint, candidate, stopper, previous))
    initial_epoch = resumed.epoch if resumed else (warm.epoch if warm else 0)
    monitor.epochs = initial_epoch
    validation = pipelines.get(dataset, "val", candidate.batch_size, seed)
    if class_weight:
        validation = _weighted(validation, class_weight, dataset.num_classes)
    try:
        history = model.fit(
            pipelines.get(dataset, "train", candidate.batch_size, seed),
            validation_data=validation,
            epochs=candidate.max_epochs,
            initial_epoch=initial_epoch,
            callbacks=callbacks,
            class_weight=class_weight,
            shuffle=False,  # the tf.data pipeline already reshuffles every epoch
            verbose=0,
        ).history
    except Exception as exc:
        raise_if_interrupted()  # a stop that native code turned into its own error is the stop, not a failed trial
        return TrialResult(FAILED, f"training failed: {type(exc).__name__}: {exc}", traceback=traceback.format_exc(),
                           epochs=monitor.epochs, train_seconds=time.perf_counter() - started,
                           param_count=model.count_params())

    history = {k: [float(v) for v in previous.get(k, [])] + [float(v) for v in values] for k, values in history.items()}
    result = TrialResult(COMPLETE, epochs=monitor.epochs, train_seconds=time.perf_counter() - started,
                         param_count=model.count_params(), history=history, model=model)
    if latency is not None:
        result.latency_ms = latency.milliseconds
    if resumed is not None:
        result.reason = f"resumed from epoch {resumed.epoch} of an interrupted attempt"
    elif warm is not None:
        result.reason = f"continued from epoch {warm.epoch} of trial {warm.trial}"
        if warm.anneal and annealed(candidate) != candidate:
            result.reason += ", its constant learning rate decayed over the continuation (cosine)"
    if monitor.non_finite is not None:
        result.status, result.reason, result.model = FAILED, monitor.non_finite, None
        return result
    val_loss = history.get("val_loss", [])
    if not val_loss:
        result.status, result.reason, result.model = FAILED, "no epoch finished", None
        return result
    best = rule.best_epoch(history)  # the epoch whose weights early stopping restored
    result.best_epoch = best + 1
    result.val_loss = val_loss[best]
    result.val_accuracy = history["val_accuracy"][best] if "val_accuracy" in history else math.nan
    result.val_metrics = {o.name: history[o.name][best] for o in OBJECTIVES.values() if o.predicted and o.name in history}
    result.objective = history[objective][best]
    if monitor.pruned:
        result.status, result.reason = PRUNED, f"pruned after epoch {monitor.epochs}" + (
            f"; {result.reason}" if result.reason else "")
        # The pruner's verdict uses the reported value at that epoch; keep the best seen for the row.
        result.objective = best_of(history[objective], objective)
    elif monitor.out_of_time:
        stopped = f"stopped by the time budget after epoch {monitor.epochs}"
        result.reason = f"{result.reason}; {stopped}" if result.reason else stopped
    if latency is not None and latency.violation:  # its scores stay in the row; the model is not kept
        result.status, result.reason, result.model = PRUNED, latency.violation, None
        return result
    left = rule.left_chance(history)
    result.left_chance_epoch = None if left is None else left + 1
    if left is None:  # said, so a row at chance is not mistaken for a network that learnt what it could
        at_chance = f"never left chance level (val_accuracy at most {rule.chance:.3f}) in {monitor.epochs} epochs"
        if stopper.stopped_epoch and not (monitor.pruned or monitor.out_of_time):
            at_chance += f": stopped after {rule.chance_patience} ({CHANCE_PATIENCE_FACTOR} x patience)"
        result.reason = f"{result.reason}; {at_chance}" if result.reason else at_chance
    elif stopper.stopped_epoch and not (monitor.pruned or monitor.out_of_time):
        # said, so a row that ended on a plateau is not mistaken for a finished one
        stopped = f"early-stopped at epoch {monitor.epochs} (best {rule.monitor} at epoch {best + 1})"
        result.reason = f"{result.reason}; {stopped}" if result.reason else stopped
    return result


def refit_candidate(dataset: Dataset, candidate: Candidate, registry: Registry, *, epochs: int,
                    seed: int = 0, class_weight: Any = None) -> keras.Model:
    """Retrain ``candidate`` from scratch on train + validation for ``epochs`` epochs (its best epoch count).

    There is no validation split left to stop on, so the epoch count comes from the search. The input
    scaling is re-estimated on the combined data, and so are ``balanced`` class weights (``class_weight``: the
    run's setting, see `automl.class_weights`). Raises :class:`ExportError` if training diverges.
    """
    import keras
    import numpy as np

    from automl import class_weights
    from automl.data import join_inputs
    from automl.errors import ExportError

    if epochs < 1:
        raise ExportError(f"refit needs at least one epoch; the trial's best epoch count is {epochs}.")
    quiet_tensorflow()
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = join_inputs(dataset.x_train, dataset.x_val)
    y = np.concatenate([dataset.y_train, dataset.y_val])
    steps = max(1, math.ceil(len(x) / candidate.batch_size))
    context = BuildContext(dataset.task, tuple(dataset.input_shape), dataset.num_classes, seed, steps, epochs,
                           problem_of(dataset))
    target = _target(dataset, y)  # the target's statistics on train + validation, as the inputs'
    model = build_model(candidate, registry, context, input_scaling(dataset.task, dataset.preprocessing, x), target)
    compile_model(model, candidate, registry, context, target)
    data = tf_dataset(x, y, candidate.batch_size, shuffle_seed=seed)
    weights = None if target is not None else class_weights.resolve(class_weight, y, dataset.class_names)
    history = model.fit(data, epochs=epochs, verbose=0, shuffle=False,  # the pipeline reshuffles every epoch
                        class_weight=weights, callbacks=[keras.callbacks.TerminateOnNaN()]).history
    losses = history.get("loss", [])
    if len(losses) < epochs or not all(math.isfinite(v) for v in losses):
        raise ExportError(f"refit on train + validation diverged (training losses {losses}); export the searched "
                          "model instead (leave out --refit).")
    return model


def annealed(candidate: Candidate) -> Candidate:
    """``candidate`` with a constant learning rate turned into a cosine decay from the same rate.

    For the continuation of the best trial: at a constant rate a photo network's validation accuracy swings by
    several points from epoch to epoch, and a decay to the end settles it (as the tutorials' fine-tuning
    lowers the rate). Optimizers that declare their schedule through ``learning_rate_space`` have a
    ``schedule`` parameter; others are left as they are.
    """
    key = f"{candidate.optimizer}.schedule"
    if candidate.params.get(key) != "constant":
        return candidate
    return replace(candidate, params={**candidate.params, key: "cosine"})


@functools.cache
def quiet_tensorflow() -> None:
    """Each trial builds a new model, so tf.function retracing warnings are expected noise here."""
    from automl import keras_backend

    if not keras_backend.is_tensorflow():  # no tf.function to retrace; importing TensorFlow would cost seconds
        return
    keras_backend.import_tensorflow_quietly()
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")


def _scaling(dataset: Dataset) -> dict[str, Any]:
    # Cached on the dataset object: the tabular statistics only depend on the training split.
    cached = getattr(dataset, "_automl_scaling", None)
    if cached is None:
        cached = input_scaling(dataset.task, dataset.preprocessing, dataset.x_train)
        object.__setattr__(dataset, "_automl_scaling", cached)
    return cached


@dataclass
class Resumed:
    model: keras.Model
    epoch: int  # epochs already trained
    history: dict[str, list[float]]
    early_stopping: dict[str, Any]


@dataclass
class WarmStart:
    """Where a promoted Hyperband trial starts: the best weights of trial ``trial``, which ran ``epoch`` epochs."""

    trial: int
    weights: Path  # written by save_warm_start
    epoch: int
    history: dict[str, list[float]]
    # The continuation of the best trial (training.continue_best) ends in a decay: a constant learning rate
    # becomes a cosine decay over its epochs (see annealed).
    anneal: bool = False

    def early_stopping(self, model, rule: EarlyStoppingRule) -> dict[str, Any]:
        """Early stopping's state at the end of that trial: its best value by ``rule``, whose weights ``model``
        holds."""
        best = rule.best_epoch(self.history, self.epoch)
        left = rule.left_chance(self.history, self.epoch)
        judged = left is not None and best >= max(left, rule.from_epoch)
        return {"wait": 0, "best": self.history[rule.monitor][best] if judged else None, "best_epoch": best,
                "best_weights": model.get_weights() if judged else None, "left_chance": left}


# A trained model must come back from its .keras file as it went in: the end of the search, every export and
# `automl predict` load it in Keras' safe mode. A few validation samples show it predicts the same.
RELOAD_SAMPLES = 8
RELOAD_TOLERANCE = 1e-4


def save_reloadable(model, path: Path, x_sample) -> None:
    """Save ``model`` to ``path`` (.keras) and load it back in Keras' safe mode, checking that the reloaded
    model predicts what ``model`` does on ``x_sample``. Raises :class:`ModelReloadError` saying why not.

    Run inside each trial, so a plugin whose layers cannot make the round trip (a layer whose config does
    not rebuild it, an unregistered custom layer, weights that are not saved) fails that trial with the
    reason, instead of the whole search at its end when the kept models are loaded again.
    """
    import keras
    import numpy as np

    from automl.errors import ModelReloadError

    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    try:
        reloaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    except Exception as exc:  # whatever Keras raises is the reason the trial fails
        path.unlink(missing_ok=True)
        raise_if_interrupted()
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelReloadError(f"its model cannot be loaded back from its .keras file in Keras' safe mode "
                               f"({type(exc).__name__}: {message[:300]}); a layer of its plugins does not survive "
                               "model.save() → keras.saving.load_model(safe_mode=True)") from None
    sample = np.asarray(x_sample[:RELOAD_SAMPLES], dtype=np.float32)
    difference = float(np.max(np.abs(model.predict(sample, verbose=0) - reloaded.predict(sample, verbose=0))))
    if not difference <= RELOAD_TOLERANCE:
        path.unlink(missing_ok=True)
        raise ModelReloadError(f"its model predicts differently once loaded back from its .keras file (max |Δp| "
                               f"{difference:.3g} > {RELOAD_TOLERANCE:g} on {len(sample)} validation samples); a layer "
                               "of its plugins does not save all of its state (weights or config)")


def save_warm_start(model, path: Path) -> None:
    """Save a finished trial's (best) weights for a later promotion; written whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name.removesuffix(".weights.h5") + ".partial.weights.h5")
    model.save_weights(partial)
    partial.replace(path)


@dataclass
class Checkpointing:
    """Where one trial's checkpoint lives (shared by its retries), and how often it is written.

    The folder holds ``model.keras`` (weights and optimizer state; loaded back in safe mode),
    ``best_weights.npz`` (early stopping's best weights; plain arrays, no pickle) and ``state.json``; it is
    replaced whole (:func:`automl.io.atomic_directory`), so a kill mid-save leaves the previous checkpoint.
    """

    directory: Path
    every_seconds: float = 30.0

    def load(self, candidate: Candidate) -> Resumed | None:
        """The checkpoint of an earlier attempt at ``candidate``, or None (none, another candidate, unreadable)."""
        import json

        import numpy as np

        from automl.io import recover_directory

        recover_directory(self.directory)
        state_path = self.directory / "state.json"
        if not state_path.is_file():
            return None
        try:
            state = json.loads(state_path.read_text())
            if state.get("candidate") != json.loads(json.dumps(candidate.to_dict())):
                return None
            import keras

            model = keras.saving.load_model(self.directory / "model.keras", safe_mode=True)
            stopping = dict(state["early_stopping"])
            if stopping.get("has_best_weights"):
                with np.load(self.directory / "best_weights.npz", allow_pickle=False) as saved:
                    stopping["best_weights"] = [saved[f"arr_{i}"] for i in range(len(saved.files))]
            return Resumed(model, int(state["epoch"]), state["history"], stopping)
        except Exception:  # an unusable checkpoint only costs the head start
            return None

    def save(self, model, epoch: int, candidate: Candidate, history: dict[str, list[float]],
             early_stopping: dict[str, Any]) -> None:
        import json

        import numpy as np

        from automl.io import atomic_directory

        with atomic_directory(self.directory) as folder:
            model.save(folder / "model.keras")
            best = early_stopping.pop("best_weights", None)
            if best is not None:
                np.savez(folder / "best_weights.npz", *best)
            state = {"epoch": epoch, "candidate": candidate.to_dict(), "history": history,
                     "early_stopping": {**early_stopping, "has_best_weights": best is not None}}
            (folder / "state.json").write_text(json.dumps(state, default=float))

    def remove(self) -> None:
        import shutil

        shutil.rmtree(self.directory, ignore_errors=True)


@functools.cache
def _early_stopping_class():
    import keras

    class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
        """Early stopping by an :class:`EarlyStoppingRule` (best weights restored, nothing judged while the
        validation accuracy is at the rule's chance level) that can continue from a checkpointed state."""

        def __init__(self, patience: int, state: dict[str, Any] | None, rule: EarlyStoppingRule):
            super().__init__(monitor=rule.monitor, mode=rule.mode, patience=patience, restore_best_weights=True,
                             start_from_epoch=rule.from_epoch)
            self.resume_state, self.chance, self.chance_patience = state, rule.chance, rule.chance_patience
            self.left_chance: int | None = None

        def on_epoch_end(self, epoch, logs=None):
            if self.left_chance is None:
                accuracy = (logs or {}).get("val_accuracy")
                if self.chance is not None and (accuracy is None or float(accuracy) <= self.chance):
                    # Still on the plateau: patience does not run and no best is picked, up to chance_patience.
                    if self.chance_patience and epoch + 1 >= self.chance_patience:
                        self.stopped_epoch, self.model.stop_training = epoch, True
                    return
                self.left_chance = epoch
            super().on_epoch_end(epoch, logs)

        def on_train_begin(self, logs=None):
            super().on_train_begin(logs)  # resets the counters; put the interrupted attempt's back
            if self.resume_state:
                self.wait = int(self.resume_state["wait"])
                best = self.resume_state["best"]  # None: nothing judged yet (before the rule's from_epoch)
                self.best = None if best is None else float(best)
                self.best_epoch = int(self.resume_state["best_epoch"])
                self.best_weights = self.resume_state.get("best_weights")
                self.left_chance = self.resume_state.get("left_chance", 0)

        def state(self) -> dict[str, Any]:
            return {"wait": int(self.wait), "best": None if self.best is None else float(self.best),
                    "best_epoch": int(self.best_epoch), "best_weights": self.best_weights,
                    "left_chance": self.left_chance}

    return ResumableEarlyStopping


@functools.cache
def validation_metrics_class():
    """The callback that scores the objectives Keras does not log (automl.objectives) on the validation split after
    every epoch; made on first use, since Keras is imported lazily."""
    import keras

    class ValidationMetrics(keras.callbacks.Callback):
        """Predicts the validation split once after every epoch and adds the objectives scored from predictions
        (`automl.objectives.prediction_scores`) to the epoch's logs; it runs first, so early stopping, the
        pruner's report, the checkpoint and the history see them."""

        def __init__(self, inputs, labels, problem: str):
            super().__init__()
            self.inputs, self.labels, self.problem = inputs, labels, problem

        def on_epoch_end(self, epoch, logs=None):
            if logs is None:
                return
            predictions = self.model.predict(self.inputs, verbose=0)  # probabilities, or regression's values
            logs.update(prediction_scores(self.labels, predictions, self.problem))

    return ValidationMetrics


@functools.cache
def _checkpoint_class():
    import keras

    class TrialCheckpoint(keras.callbacks.Callback):
        """Saves the trial after an epoch once ``every_seconds`` have passed since the last save."""

        def __init__(self, checkpointing: Checkpointing, candidate: Candidate, early_stopping, history):
            super().__init__()
            self.checkpointing, self.candidate, self.early_stopping = checkpointing, candidate, early_stopping
            self.history = {k: list(v) for k, v in history.items()}
            self.last = time.monotonic()

        def on_epoch_end(self, epoch, logs=None):
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            if self.model.stop_training or time.monotonic() - self.last < self.checkpointing.every_seconds:
                return
            self.checkpointing.save(self.model, epoch + 1, self.candidate, self.history, self.early_stopping.state())
            self.last = time.monotonic()

    return TrialCheckpoint


@functools.cache
def _one_example(dataset: Dataset) -> Any:
    """One validation example as a batch of one, as a deployed model receives it."""
    import numpy as np

    from automl.data import CachedImages

    x = dataset.x_val
    return np.asarray(x.take(np.arange(1)) if isinstance(x, CachedImages) else x[:1], dtype=np.float32)


@functools.cache
def _latency_check_class():
    import keras

    class LatencyCheck(keras.callbacks.Callback):
        """Measures batch-1 prediction latency after the first epoch this fit runs, and stops training when it is
        over the limit."""

        def __init__(self, constraints: Constraints, x_one: Any, reporter: TrialReporter) -> None:
            super().__init__()
            self.constraints, self.x_one, self.reporter = constraints, x_one, reporter
            self.milliseconds = math.nan
            self.violation: str | None = None

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            if not math.isnan(self.milliseconds):
                return
            self.milliseconds = measure_latency_ms(self.model, self.x_one)
            self.violation = self.constraints.latency_violation(self.milliseconds)
            if self.violation:
                self.model.stop_training = True
            elif self.constraints.trade_off == "latency_ms":
                self.reporter.measured("latency_ms", self.milliseconds)

    return LatencyCheck


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
            raise_if_interrupted()  # a SIGTERM whose exception a finalizer swallowed
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
