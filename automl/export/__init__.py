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

The package's modules: ``formats`` (one small class per format, safe loading), ``writer`` (one model to a
verified folder), ``card`` (the model card), ``metrics``, ``ensemble`` (which trials an ensemble averages) and
``from_run`` (``automl export`` on a run directory, and the TensorFlow child process).
"""

from automl.export.card import CANDIDATE_FILE, CARD_FILE, describe_export, exported_trials, file_hashes, read_card
from automl.export.ensemble import ENSEMBLE_MAX_ACCURACY_GAP, combine, ensemble_members, ensemble_shortfall
from automl.export.formats import (
    EXPORT_EXTRA,
    FORMATS,
    SEARCH_FORMATS,
    ExportFormat,
    KerasFormat,
    LiteRTFormat,
    OnnxFormat,
    SavedModelFormat,
    load_keras_model,
    resolve_formats,
)
from automl.export.from_run import OLD_IMAGE_RUN_HINT, export_run
from automl.export.metrics import classification_metrics, regression_metrics
from automl.export.writer import export_model

__all__ = [
    "CANDIDATE_FILE", "CARD_FILE", "ENSEMBLE_MAX_ACCURACY_GAP", "EXPORT_EXTRA", "FORMATS", "OLD_IMAGE_RUN_HINT",
    "SEARCH_FORMATS", "ExportFormat", "KerasFormat", "LiteRTFormat", "OnnxFormat", "SavedModelFormat",
    "classification_metrics", "combine", "describe_export", "ensemble_members", "ensemble_shortfall",
    "export_model", "export_run", "exported_trials", "file_hashes", "load_keras_model", "read_card",
    "regression_metrics", "resolve_formats",
]
