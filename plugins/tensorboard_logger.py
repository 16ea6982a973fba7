"""Built-in ``tensorboard`` logger: ``automl search ... --log tensorboard``; ``tensorboard --logdir RUN/tensorboard``.

Per trial, in ``RUN/tensorboard/trial_NNNN/``:

* every number in the epoch logs (``loss``, ``accuracy``, ``val_loss``, ``val_accuracy``, ``learning_rate`` when
  reported) as a scalar, step = the 0-based epoch;
* the candidate's hyperparameters for the HParams dashboard (one session per trial, ended with its status);
* ``result/objective``, ``result/val_accuracy``, ``result/val_loss`` (at the best epoch, as ranked) and a
  ``summary`` text: status, reason, result and hyperparameters.

It writes event files with TensorBoard's own pure-Python writer, so the search process never imports
TensorFlow for it. A plugin like any other: it uses only ``automl_register_loggers`` and the lifecycle hooks.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

from automl import Logger, hookimpl
from automl.errors import PluginError

FOLDER = "tensorboard"
RESULT_KEYS = ("objective", "val_accuracy", "val_loss")


def trial_folder(run_dir: Path, trial: int) -> Path:
    return Path(run_dir) / FOLDER / f"trial_{trial:04d}"


class TensorBoardLogger(Logger):
    name = "tensorboard"
    description = "Per-trial epoch scalars, hyperparameters (HParams) and results under RUN/tensorboard/trial_NNNN/."

    def __init__(self) -> None:
        self._writers: dict[int, Any] = {}  # trial number -> its open EventFileWriter

    def check(self) -> None:
        try:
            import tensorboard.summary.writer.event_file_writer  # noqa: F401
        except ImportError as exc:
            raise PluginError(f"the tensorboard logger needs the tensorboard package ({exc}): pip install tensorboard, "
                              "or leave out --log tensorboard.") from None

    @hookimpl
    def automl_trial_started(self, run_dir: Path, trial: int, candidate: dict[str, Any]) -> None:
        from tensorboard.plugins.hparams import summary_v2 as hparams_summary

        hparams = _hparams(candidate)
        self._write(run_dir, trial, hparams_summary.hparams_pb(hparams, trial_id=f"trial_{trial:04d}"), step=0)

    @hookimpl
    def automl_trial_epoch(self, run_dir: Path, trial: int, epoch: int, logs: dict[str, float]) -> None:
        from tensorboard.compat.proto import summary_pb2

        summary = summary_pb2.Summary()
        for key, value in sorted(logs.items()):
            if isinstance(value, (int, float)) and math.isfinite(value):
                summary.value.add(tag=key, simple_value=float(value))
        self._write(run_dir, trial, summary, step=epoch)
        self._writers[trial].flush()  # an epoch is rare enough: a killed search loses nothing written

    @hookimpl
    def automl_trial_finished(self, run_dir: Path, record: dict[str, Any]) -> None:
        from tensorboard.compat.proto import summary_pb2
        from tensorboard.plugins.text import summary_v2 as text_summary

        trial = record["trial"]
        step = int(record.get("epochs") or 0)
        result = summary_pb2.Summary()
        for key in RESULT_KEYS:
            value = record.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                result.value.add(tag=f"result/{key}", simple_value=float(value))
        self._write(run_dir, trial, result, step=step)
        self._write(run_dir, trial, text_summary.text_pb("summary", _markdown(record)), step=step)
        self._write(run_dir, trial, _session_end(record.get("status", "")), step=step)
        self._writers.pop(trial).close()

    @hookimpl
    def automl_search_finished(self) -> None:
        for writer in self._writers.values():  # trials that never finished (the search was interrupted)
            writer.close()
        self._writers.clear()

    def _write(self, run_dir: Path, trial: int, summary, *, step: int) -> None:
        from tensorboard.compat.proto import event_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        if trial not in self._writers:
            folder = trial_folder(run_dir, trial)
            folder.mkdir(parents=True, exist_ok=True)
            self._writers[trial] = EventFileWriter(str(folder))
        self._writers[trial].add_event(event_pb2.Event(wall_time=time.time(), step=step, summary=summary))


def _hparams(candidate: dict[str, Any]) -> dict[str, bool | int | float | str]:
    """The candidate as HParams values (bool, number or string; anything else as its text)."""
    values = {key: candidate[key] for key in ("architecture", "augmentation", "optimizer", "batch_size", "max_epochs",
                                              "patience") if candidate.get(key) is not None}
    values.update(candidate.get("params") or {})
    return {key: value if isinstance(value, (bool, int, float, str)) else str(value) for key, value in values.items()}


def _session_end(status: str):
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2

    # HParams knows success and failure only: a pruned trial ended normally (the summary text says "pruned").
    status_code = api_pb2.STATUS_FAILURE if status == "failed" else api_pb2.STATUS_SUCCESS
    data = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=status_code, end_time_secs=time.time()))
    summary = summary_pb2.Summary()
    summary.value.add(tag=metadata.SESSION_END_INFO_TAG, metadata=metadata.create_summary_metadata(data),
                      tensor=metadata.NULL_TENSOR)
    return summary


def _markdown(record: dict[str, Any]) -> str:
    title = f"**trial {record['trial']}: {record.get('status', '?')}**"
    if record.get("reason"):
        title += f" — {record['reason']}"
    rows = {key: record[key] for key in (*RESULT_KEYS, "epochs", "best_epoch", "train_seconds", "param_count")
            if record.get(key) is not None}
    rows.update(_hparams(record.get("candidate") or {}))
    return "\n".join([title, "", "| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows.items())])


@hookimpl
def automl_register_loggers():
    return [TensorBoardLogger()]
