"""Classification metrics of a model's probabilities (regression: of its values), as the model card and the test
evaluation report them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np


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


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """RMSE, MAE (in the target's units) and R² of predicted values."""
    import numpy as np
    from sklearn import metrics

    from automl.objectives import mae, rmse

    y, p = np.asarray(y_true, dtype=np.float64).ravel(), np.asarray(predicted, dtype=np.float64).ravel()
    finite = bool(np.all(np.isfinite(p)))
    return {"samples": int(len(y)), "rmse": rmse(y, p) if finite else float("nan"),
            "mae": mae(y, p) if finite else float("nan"),
            "r2": float(metrics.r2_score(y, p)) if finite and len(y) > 1 else float("nan")}
