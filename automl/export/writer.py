"""Writing one model to an export folder: every chosen format, each reloaded and verified against Keras."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import ExportError, UnsafeModelError
from automl.export.card import CANDIDATE_FILE, CARD_FILE, file_hashes
from automl.export.formats import SEARCH_FORMATS, VERIFY_SAMPLES, VERIFY_TOLERANCE, ExportFormat, resolve_formats
from automl.export.metrics import classification_metrics, regression_metrics
from automl.io import atomic_directory, atomic_write_json, recover_directory
from automl.objectives import OBJECTIVES
from automl.signals import raise_if_interrupted

if TYPE_CHECKING:
    import keras
    import numpy as np

    from automl.data import Dataset

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
                # A stop that arrived inside native code can surface as that code's own error (pybind11 replaces
                # the exception being raised): that is the stop, not a failing format.
                raise_if_interrupted()
                raise ExportError(f"writing or reloading the {fmt.name} format failed: {type(exc).__name__}: "
                                  f"{exc}. The previous export in {out_dir} is unchanged.") from exc
            verification[fmt.name] = _verify(fmt.name, reference, predicted, out_dir, dataset.is_regression)
        raise_if_interrupted()
        say("export: computing validation and test metrics")
        if dataset.is_regression:
            output = {"name": "predictions", "shape": [None, 1],
                      "meaning": f"the predicted value of {dataset.target or 'y'}, in its own units (the model "
                                 "rescales its standardised output itself)"}

            def scores(y, x):
                return regression_metrics(y, predict(model, x))
        else:
            output = {"name": "predictions", "shape": [None, dataset.num_classes],
                      "meaning": "class probabilities, in the order of class_names"}

            def scores(y, x):
                return classification_metrics(y, predict(model, x), dataset.class_names)
        card = {
            "automl_version": __version__,
            "trial": record.get("trial"),
            "refit": refit,
            "task": dataset.task,
            "problem": dataset.problem,
            **({"target": _target_card(model, dataset)} if dataset.is_regression else {}),
            "input": {"name": "inputs", "shape": [None, *dataset.input_shape], "dtype": "float32",
                      "units": "raw (see preprocessing); the model scales its inputs itself"},
            "output": output,
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
                "validation": scores(dataset.y_val, dataset.x_val),
                "test": scores(dataset.y_test, dataset.x_test),
            },
            # with an objective scored from predictions (val_f1_macro...), those scores too
            "search_metrics": {"val_accuracy": record.get("val_accuracy"), "val_loss": record.get("val_loss"),
                               **{o.name: record[o.name] for o in OBJECTIVES.values() if o.predicted and o.name in record}},
            "ensemble": None if not ensemble else {
                "trials": [member.get("trial") for member in ensemble],
                "combination": "mean of the members' " + ("predicted values" if dataset.is_regression
                                                          else "class probabilities"),
                "members": [{key: member.get(key) for key in ("trial", "val_accuracy", "val_loss", *_predicted_keys,
                                                              "best_epoch", "candidate") if key in member}
                            for member in ensemble],
            },
            "formats": {fmt.name: {"path": fmt.artifact, "description": fmt.description} for fmt in chosen},
            "verification": verification,
        }
        atomic_write_json(folder / CANDIDATE_FILE, record.get("candidate"))
        card["sha256"] = file_hashes(folder, exclude=(CARD_FILE,))
        atomic_write_json(folder / CARD_FILE, card)
    return card


_predicted_keys = tuple(o.name for o in OBJECTIVES.values() if o.predicted)


def _target_card(model: keras.Model, dataset: Dataset) -> dict[str, Any]:
    """The regression target: its name and the rescaling of the output layer(s) (each member of an ensemble has
    its own)."""
    import numpy as np

    rescalings = [{"mean": float(np.asarray(layer.offset)), "std": float(np.asarray(layer.scale))}
                  for layer in _layers(model) if layer.name == "predictions" and hasattr(layer, "offset")]
    return {"name": dataset.target or "y", "units": "the target's own; the output layer rescales the "
            "standardised prediction z as std * z + mean", "rescaling": rescalings}


def _layers(model: Any) -> list[Any]:
    found = []
    for layer in getattr(model, "layers", []):
        found.append(layer)
        found += _layers(layer)
    return found


def needs_tensorflow_process(chosen: Sequence[ExportFormat]) -> list[str]:
    """The chosen formats this process cannot write, because its Keras does not run on TensorFlow."""
    from automl import keras_backend

    return [] if keras_backend.is_tensorflow() else [f.name for f in chosen if f.tensorflow_graph]


def _check_backend(chosen: Sequence[ExportFormat]) -> None:
    from automl import keras_backend

    names = needs_tensorflow_process(chosen)
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


def _verify(name: str, reference: np.ndarray, predicted: np.ndarray, out_dir: Path,
            regression: bool = False) -> dict[str, Any]:
    import numpy as np

    if predicted.shape != reference.shape:
        raise ExportError(f"the {name} export predicts shape {predicted.shape} but the Keras model {reference.shape}; "
                          f"the export is refused and {out_dir} is unchanged.")
    difference = float(np.max(np.abs(predicted - reference))) if reference.size else 0.0
    if regression:  # values in the target's units: compared relative to their size (float32 keeps ~7 digits)
        scale = max(1.0, float(np.max(np.abs(reference)))) if reference.size else 1.0
        if not math.isfinite(difference) or difference > VERIFY_TOLERANCE * scale:
            raise ExportError(
                f"the {name} export does not reproduce the Keras model on {len(reference)} validation samples: max "
                f"difference of a predicted value {difference:.3g} (allowed {VERIFY_TOLERANCE:g} x {scale:.4g}, the "
                f"largest |value|). The export is refused and {out_dir} is unchanged.")
        return {"samples": int(len(reference)), "max_abs_difference": difference,
                "max_relative_difference": difference / scale}
    agreement = float(np.mean(predicted.argmax(axis=1) == reference.argmax(axis=1))) if len(reference) else 1.0
    if not math.isfinite(difference) or difference > VERIFY_TOLERANCE or agreement < 1.0:
        raise ExportError(
            f"the {name} export does not reproduce the Keras model on {len(reference)} validation samples: "
            f"max probability difference {difference:.3g} (allowed {VERIFY_TOLERANCE:g}), argmax agreement "
            f"{agreement:.1%} (required 100%). The export is refused and {out_dir} is unchanged."
        )
    return {"samples": int(len(reference)), "argmax_agreement": agreement, "max_abs_difference": difference}
