"""Exporting a trained model: four formats, each reloaded with its own runtime and checked against Keras.

An export folder holds::

    model.keras          Keras archive (loaded back in safe mode only)
    saved_model/         TensorFlow SavedModel, signature ``serve``
    model.tflite         LiteRT (TensorFlow Lite) flat buffer
    model.onnx           ONNX graph
    candidate.json       the searched candidate (plugins and hyperparameters)
    model_card.json      task, input spec, classes, preprocessing, metrics, verification, sha256 of every file

Every model takes *raw* inputs (pixels as read from the files, or the encoded table columns): the input
scaling is a layer of the model, and the card's ``preprocessing`` says how raw inputs are made from files.
Augmentation is training-only and is left out of exported models (see :func:`automl.model.inference_model`).

The folder is written next to its destination and swapped in whole (:func:`automl.io.atomic_directory`),
so an export that fails half-way — a format that does not verify, a full disk, a kill — leaves the
previous export exactly as it was.

SavedModel, LiteRT and ONNX are TensorFlow graphs and are written with Keras on its TensorFlow backend. A
process whose Keras runs on JAX (a run searched with ``KERAS_BACKEND=jax``) hands :func:`export_run` to a
child process with ``KERAS_BACKEND=tensorflow``: the ``.keras`` files its trials saved are backend-neutral.
(Keras can export a SavedModel from JAX, but through jax2tf: XLA calls inside the graph that LiteRT and
tf2onnx cannot convert.)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import json
import math
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import ConfigError, DataError, ExportError, RunDirectoryError, UnsafeModelError
from automl.io import atomic_directory, atomic_write_json, check_writable_folder, recover_directory
from automl.run_dir import RunDirectory
from automl.signals import raise_if_interrupted

if TYPE_CHECKING:
    import keras
    import numpy as np

    from automl.data import Dataset

CARD_FILE = "model_card.json"
CANDIDATE_FILE = "candidate.json"
# Validation samples every format's predictions are compared on.
VERIFY_SAMPLES = 50
# Largest allowed difference of any class probability between a format and the Keras model. float32
# graphs rewritten by converters differ by ~1e-6; a real fault (an op computed differently, augmentation
# left active) shows up as 1e-2 or more.
VERIFY_TOLERANCE = 1e-4
EXPORT_EXTRA = "pip install 'automl[export]'"

Predictor = Callable[["np.ndarray"], "np.ndarray"]


# --- formats: one small class each ---------------------------------------------------------------------
class ExportFormat:
    """How one format is written, and loaded back with its own runtime."""

    name: str
    artifact: str  # file or folder name inside the export folder
    requires: tuple[str, ...] = ()  # importable modules the format needs
    description: str = ""
    tensorflow_graph = True  # written from a TensorFlow-backend Keras (see the module docstring)

    def missing_modules(self) -> list[str]:
        return [module for module in self.requires if importlib.util.find_spec(module) is None]

    def write(self, model: keras.Model, path: Path) -> None:
        raise NotImplementedError

    def load(self, path: Path) -> Predictor:
        raise NotImplementedError


class KerasFormat(ExportFormat):
    name, artifact = "keras", "model.keras"
    description = "Keras archive; automl loads it in safe mode"
    tensorflow_graph = False  # the same archive from any backend

    def write(self, model: keras.Model, path: Path) -> None:
        model.save(path)

    def load(self, path: Path) -> Predictor:
        model = load_keras_model(path)
        return lambda x: model.predict(x, batch_size=256, verbose=0)


class SavedModelFormat(ExportFormat):
    name, artifact = "saved_model", "saved_model"
    description = "TensorFlow SavedModel (signature 'serve') for TF Serving and tf.saved_model.load"

    def write(self, model: keras.Model, path: Path) -> None:
        model.export(str(path), format="tf_saved_model", verbose=False)

    def load(self, path: Path) -> Predictor:
        import numpy as np
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda x: np.concatenate([loaded.serve(x[i:i + 256]).numpy() for i in range(0, len(x), 256)])


class LiteRTFormat(ExportFormat):
    name, artifact = "litert", "model.tflite"
    requires = ("ai_edge_litert",)
    description = "LiteRT / TensorFlow Lite flat buffer for mobile and edge devices"

    def write(self, model: keras.Model, path: Path) -> None:
        from automl.keras_backend import native_logs_filtered

        with native_logs_filtered():  # the converter's C++ lines (MLIR passes, SavedModel reads) are noise here
            model.export(str(path), format="litert", verbose=False)

    def load(self, path: Path) -> Predictor:
        import numpy as np
        from ai_edge_litert.interpreter import Interpreter

        from automl.keras_backend import native_logs_filtered

        with native_logs_filtered():  # "Created TensorFlow Lite XNNPACK delegate for CPU."
            interpreter = Interpreter(model_path=str(path))
            interpreter.allocate_tensors()
        source = interpreter.get_input_details()[0]["index"]
        target = interpreter.get_output_details()[0]["index"]

        def predict(x: np.ndarray) -> np.ndarray:
            interpreter.resize_tensor_input(source, list(x.shape))
            interpreter.allocate_tensors()
            interpreter.set_tensor(source, np.ascontiguousarray(x, dtype=np.float32))
            interpreter.invoke()
            return interpreter.get_tensor(target).copy()

        return predict


class OnnxFormat(ExportFormat):
    name, artifact = "onnx", "model.onnx"
    requires = ("tf2onnx", "onnx", "onnxruntime")
    description = "ONNX graph for onnxruntime and other ONNX runtimes"

    def write(self, model: keras.Model, path: Path) -> None:
        import logging

        logging.getLogger("tf2onnx").setLevel(logging.ERROR)  # it logs every graph rewrite at INFO
        _register_onnx_erfc()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx patch probes np.object
            model.export(str(path), format="onnx", verbose=False)

    def load(self, path: Path) -> Predictor:
        import numpy as np
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        input_name = session.get_inputs()[0].name
        return lambda x: session.run(None, {input_name: np.ascontiguousarray(x, dtype=np.float32)})[0]


@functools.cache
def _register_onnx_erfc() -> None:
    """Teach tf2onnx TensorFlow's ``Erfc`` op as ``1 - Erf(x)``.

    Exact GELU (the ``gelu`` activation of Keras, offered by the built-in ``mlp``) lowers to ``Erfc`` in
    TensorFlow, which tf2onnx 1.17 cannot convert; ONNX has ``Erf`` since opset 9.
    """
    import numpy as np
    from tf2onnx import utils
    from tf2onnx.handler import tf_op

    @tf_op("Erfc")
    class Erfc:
        @classmethod
        def version_9(cls, ctx, node, **kwargs):
            x = node.input[0]
            dtype = utils.map_onnx_to_numpy_type(ctx.get_dtype(x))
            erf = ctx.make_node("Erf", [x], op_name_scope=node.name).output[0]
            one = ctx.make_const(utils.make_name(f"{node.name}_one"), np.array(1, dtype=dtype)).output[0]
            outputs, shapes, dtypes = node.output, ctx.get_shape(node.output[0]), [ctx.get_dtype(node.output[0])]
            ctx.remove_node(node.name)
            ctx.make_node("Sub", [one, erf], outputs=outputs, shapes=[shapes], dtypes=dtypes, name=node.name)


FORMATS: dict[str, ExportFormat] = {f.name: f for f in (KerasFormat(), SavedModelFormat(), LiteRTFormat(),
                                                        OnnxFormat())}
SEARCH_FORMATS = ("keras", "saved_model")  # exported at the end of every search


def resolve_formats(names: str | Sequence[str] | None) -> list[ExportFormat]:
    """``"keras,onnx"`` or a list → format objects; every optional dependency is checked before any work."""
    if names is None:
        names = list(FORMATS)
    elif isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    if not names:
        raise ConfigError(f"--format needs at least one of: {', '.join(FORMATS)}.")
    unknown = [n for n in names if n not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format(s) {unknown}; choose from: {', '.join(FORMATS)} "
                          "(comma-separated, e.g. --format keras,onnx).")
    formats = [FORMATS[n] for n in dict.fromkeys(names)]
    missing = {f.name: f.missing_modules() for f in formats if f.missing_modules()}
    if missing:
        listed = "; ".join(f"{name} needs {', '.join(modules)}" for name, modules in missing.items())
        raise ExportError(f"export format(s) {', '.join(missing)} cannot be written here: {listed}. "
                          f"Install the optional dependencies with: {EXPORT_EXTRA}")
    return formats


# --- safe loading --------------------------------------------------------------------------------------
def load_keras_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` archive in Keras' safe mode; refuse anything that would run code from the file."""
    import keras

    path = Path(path)
    if not path.is_file():
        raise ExportError(f"model file {str(path)!r} does not exist; pass a .keras file written by automl or Keras.")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise UnsafeModelError(
            f"{path} is not a .keras archive; automl only loads .keras files, in Keras' safe mode (legacy .h5 and "
            "pickled models can run code when loaded). Re-save the model with model.save('model.keras')."
        )
    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        if "safe_mode" not in str(exc) and "arbitrary code" not in str(exc):
            raise
        raise UnsafeModelError(
            f"{path} was refused: it holds Python code that would run when loaded (a Lambda layer or another "
            f"serialized function), and automl loads models in Keras' safe mode only. Keras said: {exc} "
            "Rebuild the model without Lambda layers (write a registered custom layer instead)."
        ) from None


# --- metrics -------------------------------------------------------------------------------------------
def classification_metrics(y_true: np.ndarray, probabilities: np.ndarray,
                           class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, log loss, per-class precision/recall/F1, macro F1, ROC AUC and the confusion matrix."""
    import numpy as np
    from sklearn import metrics

    labels = list(range(len(class_names)))
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, support = metrics.precision_recall_fscore_support(
        y_true, predicted, labels=labels, zero_division=0)
    clipped = np.clip(probabilities, 1e-7, 1.0)
    result: dict[str, Any] = {
        "samples": int(len(y_true)),
        "accuracy": float(metrics.accuracy_score(y_true, predicted)),
        "loss": float(-np.mean(np.log(clipped[np.arange(len(y_true)), y_true]))),
        "macro_f1": float(np.mean(f1)),
        "per_class": {name: {"precision": float(p), "recall": float(r), "f1": float(f), "support": int(s)}
                      for name, p, r, f, s in zip(class_names, precision, recall, f1, support)},
        "confusion_matrix": metrics.confusion_matrix(y_true, predicted, labels=labels).tolist(),
        "roc_auc": None,
    }
    # AUC needs every class among the true labels (one-vs-rest); a tiny split may miss one.
    if len(np.unique(y_true)) == len(class_names):
        if len(class_names) == 2:
            result["roc_auc"] = float(metrics.roc_auc_score(y_true, probabilities[:, 1]))
        else:
            normalised = probabilities / probabilities.sum(axis=1, keepdims=True)
            result["roc_auc"] = float(metrics.roc_auc_score(y_true, normalised, multi_class="ovr", labels=labels))
    return result


# --- export --------------------------------------------------------------------------------------------
def export_model(model: keras.Model, dataset: Dataset, out_dir: str | Path, *, record: Mapping[str, Any],
                 formats: str | Sequence[str] | None = SEARCH_FORMATS, refit: bool = False,
                 ensemble: Sequence[Mapping[str, Any]] | None = None,
                 progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Write ``model`` in ``formats`` to ``out_dir``, verify each, and write the model card; return the card.

    ``record`` is the trial's leaderboard record (candidate, seed, epochs, plugin versions); for an ensemble
    (:func:`automl.model.average_ensemble`), ``ensemble`` holds every member's record, best first, and
    ``record`` is the first. Raises :class:`ExportError` — leaving ``out_dir`` untouched — when a format
    cannot be written or its reloaded predictions differ from the Keras model's.
    """
    import numpy as np

    from automl import __version__
    from automl.model import inference_model
    from automl.trainer import predict

    chosen = resolve_formats(formats)
    _check_backend(chosen)
    say = progress or (lambda message: None)
    model = inference_model(model)
    samples = np.asarray(dataset.x_val[:VERIFY_SAMPLES], dtype=np.float32)
    reference = model.predict(samples, verbose=0)
    out_dir = Path(out_dir)
    verification: dict[str, Any] = {}
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with _export_lock(out_dir), atomic_directory(out_dir) as folder:
        for fmt in chosen:
            raise_if_interrupted()  # a SIGTERM whose exception a finalizer swallowed: the old export stays
            say(f"export: writing {fmt.name} ({fmt.artifact})")
            try:
                fmt.write(model, folder / fmt.artifact)
                predicted = np.asarray(fmt.load(folder / fmt.artifact)(samples))
            except (ExportError, UnsafeModelError):
                raise
            except Exception as exc:
                raise ExportError(f"writing or reloading the {fmt.name} format failed: {type(exc).__name__}: "
                                  f"{exc}. The previous export in {out_dir} is unchanged.") from exc
            verification[fmt.name] = _verify(fmt.name, reference, predicted, out_dir)
        raise_if_interrupted()
        say("export: computing validation and test metrics")
        card = {
            "automl_version": __version__,
            "trial": record.get("trial"),
            "refit": refit,
            "task": dataset.task,
            "input": {"name": "inputs", "shape": [None, *dataset.input_shape], "dtype": "float32",
                      "units": "raw (see preprocessing); the model scales its inputs itself"},
            "output": {"name": "predictions", "shape": [None, dataset.num_classes],
                       "meaning": "class probabilities, in the order of class_names"},
            "class_names": list(dataset.class_names),
            "preprocessing": dataset.preprocessing,
            "candidate": record.get("candidate"),
            "hyperparameters": (record.get("candidate") or {}).get("params"),
            "plugins": {family: (record.get("candidate") or {}).get(family)
                        for family in ("architecture", "augmentation", "optimizer")},
            "plugin_versions": record.get("plugin_versions"),
            "seed": record.get("seed"),
            "epochs": record.get("epochs"),
            "best_epoch": record.get("best_epoch"),
            "data_source": dataset.source,
            "data_fingerprint": dataset.fingerprint,
            "metrics": {
                # After --refit the validation split was trained on: its metrics are no longer a held-out estimate.
                "validation": classification_metrics(dataset.y_val, predict(model, dataset.x_val),
                                                     dataset.class_names),
                "test": classification_metrics(dataset.y_test, predict(model, dataset.x_test),
                                               dataset.class_names),
            },
            "search_metrics": {"val_accuracy": record.get("val_accuracy"), "val_loss": record.get("val_loss")},
            "ensemble": None if not ensemble else {
                "trials": [member.get("trial") for member in ensemble],
                "combination": "mean of the members' class probabilities",
                "members": [{key: member.get(key) for key in ("trial", "val_accuracy", "val_loss", "best_epoch",
                                                              "candidate")} for member in ensemble],
            },
            "formats": {fmt.name: {"path": fmt.artifact, "description": fmt.description} for fmt in chosen},
            "verification": verification,
        }
        atomic_write_json(folder / CANDIDATE_FILE, record.get("candidate"))
        card["sha256"] = file_hashes(folder, exclude=(CARD_FILE,))
        atomic_write_json(folder / CARD_FILE, card)
    return card


def _needs_tensorflow_process(chosen: Sequence[ExportFormat]) -> list[str]:
    """The chosen formats this process cannot write, because its Keras does not run on TensorFlow."""
    from automl import keras_backend

    return [] if keras_backend.is_tensorflow() else [f.name for f in chosen if f.tensorflow_graph]


def _check_backend(chosen: Sequence[ExportFormat]) -> None:
    from automl import keras_backend

    names = _needs_tensorflow_process(chosen)
    if names:
        raise ExportError(f"the {', '.join(names)} format(s) are TensorFlow graphs written with the TensorFlow Keras "
                          f"backend, but Keras runs on {keras_backend.configured()} in this process. Export with "
                          "export_run() or `automl export RUN_DIR`, which write them from a TensorFlow-backend "
                          "process, or set KERAS_BACKEND=tensorflow before importing Keras.")


@contextlib.contextmanager
def _export_lock(out_dir: Path) -> Iterator[None]:
    """One export at a time into a folder; then undo what a killed earlier export left half-way."""
    from filelock import FileLock, Timeout

    lock = FileLock(str(out_dir.parent / f".{out_dir.name}.lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise ExportError(f"another export into {out_dir} is running (lock {lock.lock_file}); wait for it, or "
                          "pass another --out.") from None
    except OSError as exc:
        raise ExportError(f"cannot write the export into {out_dir}: {exc.strerror or exc}; pass an --out folder "
                          "you can write to.") from None
    try:
        recover_directory(out_dir)
        yield
    finally:
        lock.release()


def _verify(name: str, reference: np.ndarray, predicted: np.ndarray, out_dir: Path) -> dict[str, Any]:
    import numpy as np

    if predicted.shape != reference.shape:
        raise ExportError(f"the {name} export predicts shape {predicted.shape} but the Keras model {reference.shape}; "
                          f"the export is refused and {out_dir} is unchanged.")
    difference = float(np.max(np.abs(predicted - reference))) if reference.size else 0.0
    agreement = float(np.mean(predicted.argmax(axis=1) == reference.argmax(axis=1))) if len(reference) else 1.0
    if not math.isfinite(difference) or difference > VERIFY_TOLERANCE or agreement < 1.0:
        raise ExportError(
            f"the {name} export does not reproduce the Keras model on {len(reference)} validation samples: "
            f"max probability difference {difference:.3g} (allowed {VERIFY_TOLERANCE:g}), argmax agreement "
            f"{agreement:.1%} (required 100%). The export is refused and {out_dir} is unchanged."
        )
    return {"samples": int(len(reference)), "argmax_agreement": agreement, "max_abs_difference": difference}


def file_hashes(folder: Path, exclude: Iterable[str] = ()) -> dict[str, str]:
    """sha256 of every file under ``folder``, keyed by its relative POSIX path."""
    hashes = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        if relative in exclude:
            continue
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        hashes[relative] = digest.hexdigest()
    return hashes


# --- exporting from a run directory --------------------------------------------------------------------
def export_run(run_dir: str | Path, *, formats: str | Sequence[str] | None = None, trial: int | None = None,
               out: str | Path | None = None, refit: bool = False, data: str | None = None,
               ensemble: int | None = None,
               progress: Callable[[str], None] | None = None) -> tuple[Path, dict[str, Any]]:
    """Export a trial of a run (default: the best) and return ``(export folder, model card)``.

    ``ensemble=K`` exports the average of the best K trials instead (default: what the search exported,
    its ``--ensemble``; with ``trial``, that one trial). The run's data are loaded again (from ``data`` when
    they moved) and must have the fingerprint recorded in the run: metrics and verification use the very
    splits of the search.
    """
    from automl import leaderboard
    from automl.backends import read_records
    from automl.data import DatasetsBySize, load_run_data
    from automl.plugin_manager import build_registry
    from automl.run_dir import read_config
    from automl.search_space import OBJECTIVES, Candidate
    from automl.trainer import refit_candidate

    run_dir = Path(run_dir)
    chosen = resolve_formats(formats)  # a missing extra fails before any loading
    if _needs_tensorflow_process(chosen):  # this process's Keras runs on JAX
        return _export_run_in_tensorflow(run_dir, progress, formats=[f.name for f in chosen], trial=trial,
                                         out=None if out is None else str(out), refit=refit, data=data,
                                         ensemble=ensemble)
    config = read_config(run_dir)
    searched_ensemble = int(config.get("ensemble") or 1)
    if ensemble is None:
        ensemble = 1 if trial is not None else searched_ensemble
    if ensemble < 1:
        raise ConfigError(f"--ensemble must be at least 1 (1: the trial alone); got {ensemble}.")
    if trial is not None and ensemble > 1:
        raise ConfigError(f"--ensemble {ensemble} averages the best {ensemble} trials and --trial {trial} picks one; "
                          "pass one of them.")
    records = read_records(config, run_dir)
    direction = OBJECTIVES[(config.get("space") or {}).get("objective", "val_accuracy")]
    ranked = leaderboard.ranked(records, direction)
    if not ranked:
        raise RunDirectoryError(f"{run_dir} has no completed trial yet; nothing to export.")
    record: Mapping[str, Any] | None
    if trial is None:
        record = ranked[0]
    else:
        record = next((r for r in records if r.get("trial") == trial), None)
        if record is None or record.get("status") != "complete":
            completed = sorted(r["trial"] for r in ranked)
            state = "does not exist" if record is None else f"is {record.get('status')}"
            raise ConfigError(f"trial {trial} {state} in {run_dir}; completed trials: {completed}.")
    members = [record] if ensemble == 1 else ensemble_members(ranked, ensemble)
    if progress is not None and len(members) < min(ensemble, len(ranked)):
        progress(ensemble_shortfall(ranked, members, ensemble))
    number = int(record["trial"])
    for member in members:
        if not refit and not RunDirectory(run_dir).trial_model(member["trial"]).is_file():
            kept = RunDirectory(run_dir).kept_trials()
            raise ConfigError(f"trial {member['trial']}'s model was not kept (automl keeps the top-k trials' models: "
                              f"{kept}); pass --refit to retrain it on train + validation, or export one of those.")
    if out is None:
        # best/ belongs to the search (re-written when a resumed search finds a better trial); anything else,
        # a refit included, gets a folder of its own so no export overwrites another.
        if number == ranked[0]["trial"] and ensemble == searched_ensemble and not refit:
            out = RunDirectory(run_dir).best
        else:
            name = f"trial_{number:04d}" if len(members) == 1 else f"ensemble_top{len(members)}"
            out = RunDirectory(run_dir).exports / f"{name}{'_refit' if refit else ''}"
    # Before the data are loaded or a model retrained: the folder the export is written beside.
    check_writable_folder(Path(out).expanduser().parent, f"the export (--out {str(out)!r}) into its folder",
                          ExportError)
    source = data or config["data"]
    dataset = load_run_data(config, source)
    if config.get("data_fingerprint") and dataset.fingerprint != config["data_fingerprint"]:
        raise DataError(f"the data at {source!r} are not the data this run searched on (their fingerprint differs "
                        f"from the one in {RunDirectory(run_dir).config}); pass --data with the original data."
                        + OLD_IMAGE_RUN_HINT * (dataset.task == "image" and "data_image_size" not in config))
    dataset = DatasetsBySize(config, dataset, source).for_candidate(Candidate.from_dict(record["candidate"]))
    from automl.keras_backend import import_tensorflow_quietly

    import_tensorflow_quietly()
    # Plugins register their custom layers when loaded, so the registry comes before any model loading.
    registry = build_registry(plugins_dir=config.get("plugins_dir"), plugins=config.get("plugins") or ())
    models = []
    for member in members:
        if refit:
            candidate = Candidate.from_dict(member["candidate"])
            epochs = int(member.get("best_epoch") or member.get("epochs") or candidate.max_epochs)
            if progress:
                progress(f"refit: retraining trial {member['trial']} on train + validation for {epochs} epochs")
            models.append(refit_candidate(dataset, candidate, registry, epochs=epochs,
                                          seed=int(member.get("seed") or 0)))
        else:
            models.append(load_keras_model(RunDirectory(run_dir).trial_model(member["trial"])))
    card = export_model(combine(models, members), dataset, out, record=record, formats=[f.name for f in chosen],
                        refit=refit, ensemble=members if len(members) > 1 else None, progress=progress)
    return Path(out), card


# Runs made before images were decoded into the cache record no data_image_size, and fingerprint other bytes.
OLD_IMAGE_RUN_HINT = (" This run was made by an earlier automl version, whose image fingerprint differs; use that "
                      "version for it, or search again into a new folder.")


def ensemble_members(ranked: Sequence[Mapping[str, Any]], k: int) -> list[Mapping[str, Any]]:
    """The trials an ensemble of the best ``k`` averages: those of them trained at the best trial's input size
    (``training.image_size``; one model takes one input size), not continued by another of them, and within
    ``ENSEMBLE_MAX_ACCURACY_GAP`` of the best's validation accuracy. Only the best ``k`` are candidates, since
    only the top-k trials' models are kept."""
    if not ranked:
        return []
    size = (ranked[0].get("candidate") or {}).get("image_size")
    # A trial that another one of them continued (training.continue_best) is that one's earlier self: averaging
    # the two counts one network twice and pulls the continued, better one back towards where it started.
    superseded = {r.get("continued_from") for r in ranked[:k]}
    return [r for r in ranked[:k] if (r.get("candidate") or {}).get("image_size") == size
            and r["trial"] not in superseded and not _far_behind(r, ranked[0])]


# Averaging helps models of about the same quality; one far behind the best drags the average towards its
# mistakes (a photo trial at 0.79 beside a continued one at 0.92). Digits' top three are closer: on the three
# seeds of benchmarks/search_quality.py every ensemble kept all three.
ENSEMBLE_MAX_ACCURACY_GAP = 0.05


def _far_behind(record: Mapping[str, Any], best: Mapping[str, Any]) -> bool:
    accuracy, best_accuracy = record.get("val_accuracy"), best.get("val_accuracy")
    if not isinstance(accuracy, (int, float)) or not isinstance(best_accuracy, (int, float)):
        return False
    return accuracy < best_accuracy - ENSEMBLE_MAX_ACCURACY_GAP


def ensemble_shortfall(ranked: Sequence[Mapping[str, Any]], members: Sequence[Mapping[str, Any]], k: int) -> str:
    """Says why an ensemble of the best ``k`` averages fewer trials, naming each trial left out and why."""
    size = (members[0].get("candidate") or {}).get("image_size")
    continued_by = {r.get("continued_from"): r["trial"] for r in ranked[:k] if r.get("continued_from") is not None}
    kept = {m["trial"] for m in members}

    def reason(record: Mapping[str, Any]) -> str:
        if record["trial"] in continued_by:
            return f"trial {record['trial']} is continued by trial {continued_by[record['trial']]}"
        if _far_behind(record, ranked[0]):
            return (f"trial {record['trial']}'s val_accuracy {record['val_accuracy']:.4f} is more than "
                    f"{ENSEMBLE_MAX_ACCURACY_GAP} below the best's {ranked[0]['val_accuracy']:.4f}")
        return (f"trial {record['trial']} trained at {(record.get('candidate') or {}).get('image_size')} px, not "
                f"the best trial's {size} px (training.image_size; one model takes one input size)")

    reasons = [reason(r) for r in ranked[:k] if r["trial"] not in kept]
    return (f"--ensemble {k}: only {len(members)} of the best {k} trials are averaged, trial(s) "
            f"{', '.join(str(m['trial']) for m in members)}: {'; '.join(reasons)}")


def combine(models: list[keras.Model], members: Sequence[Mapping[str, Any]]) -> keras.Model:
    """The one model to export: the trial's own, or the average of several trials' (named after them)."""
    from automl.model import average_ensemble

    if len(models) == 1:
        return models[0]
    return average_ensemble(models, [f"trial_{int(member['trial']):04d}" for member in members])


_CHILD_MARK = "automl-export-child "  # prefixes the child's protocol lines on its stdout


def _export_run_in_tensorflow(run_dir: Path, progress: Callable[[str], None] | None,
                              **options: Any) -> tuple[Path, dict[str, Any]]:
    """:func:`export_run` in a child process whose Keras runs on TensorFlow; its errors are raised here.

    The child reloads the run's data and the trial's ``.keras`` file (or refits it, on TensorFlow) exactly as
    ``automl export`` does; it reports progress, its result or its error as JSON lines on stdout.
    """
    import os
    import subprocess
    import sys
    import tempfile

    from automl import errors, keras_backend

    if progress:
        progress(f"export: Keras runs on {keras_backend.configured()} here; the TensorFlow formats are written by a "
                 "TensorFlow-backend process")
    env = {**os.environ, keras_backend.ENV: "tensorflow"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    request = json.dumps({"run_dir": str(run_dir), **options})
    outcome: dict[str, Any] = {}
    with tempfile.TemporaryFile("w+") as stderr:  # a file, not a pipe: TensorFlow's chatter cannot block the child
        child = subprocess.Popen([sys.executable, "-c", "from automl.export import _export_child; _export_child()"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True, env=env)
        assert child.stdin is not None and child.stdout is not None  # both are pipes
        child.stdin.write(request)
        child.stdin.close()
        for line in child.stdout:
            if not line.startswith(_CHILD_MARK):
                continue
            message = json.loads(line[len(_CHILD_MARK):])
            if "progress" in message:
                if progress:
                    progress(message["progress"])
            else:
                outcome = message
        child.stdout.close()
        status = child.wait()
        stderr.seek(0)
        tail = stderr.read()[-2000:].strip()
    if "error" in outcome:
        kind = getattr(errors, outcome["error"], None)
        if not (isinstance(kind, type) and issubclass(kind, errors.AutomlError)):
            kind = ExportError
        raise kind(outcome["message"])
    if "folder" not in outcome:
        raise ExportError(f"the TensorFlow-backend export process exited with status {status} without a result; "
                          f"it said:\n{tail or '(nothing)'}")
    return Path(outcome["folder"]), read_card(outcome["folder"])


def _export_child() -> None:
    """Entry point of the export process started by :func:`_export_run_in_tensorflow`."""
    import sys

    from automl.errors import AutomlError

    def send(**message: Any) -> None:
        print(_CHILD_MARK + json.dumps(message), flush=True)

    request = json.loads(sys.stdin.read())
    try:
        folder, _ = export_run(request.pop("run_dir"), progress=lambda text: send(progress=text), **request)
    except AutomlError as exc:
        send(error=type(exc).__name__, message=str(exc))
        raise SystemExit(2) from None
    send(folder=str(folder))


def exported_trials(card: dict[str, Any]) -> list[int]:
    """The trials a model card's model is made of: the ensemble's members, or the one trial."""
    return (card.get("ensemble") or {}).get("trials") or [card.get("trial")]


def describe_export(card: dict[str, Any]) -> str:
    """``trial 7`` or ``the average of trials 7, 3, 9``, for messages."""
    trials = exported_trials(card)
    return f"trial {trials[0]}" if len(trials) == 1 else f"the average of trials {', '.join(map(str, trials))}"


def read_card(export_dir: str | Path) -> dict[str, Any]:
    path = Path(export_dir) / CARD_FILE
    if not path.is_file():
        raise RunDirectoryError(f"{export_dir} has no {CARD_FILE}; pass a run directory or a folder written by "
                                "automl export.")
    return json.loads(path.read_text())
