"""Exporting from a run directory (`automl export`), in this process or, where Keras runs on JAX, in a
TensorFlow child process."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import ConfigError, DataError, ExportError, RunDirectoryError
from automl.export.card import read_card
from automl.export.ensemble import combine, ensemble_members, ensemble_shortfall
from automl.export.formats import load_keras_model, resolve_formats
from automl.export.writer import export_model, needs_tensorflow_process
from automl.io import check_writable_folder
from automl.run_dir import RunDirectory

if TYPE_CHECKING:
    pass

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
    from automl.objectives import run_objective
    from automl.plugin_manager import build_registry
    from automl.run_dir import read_config
    from automl.search_space import Candidate, Constraints
    from automl.trainer import refit_candidate

    run_dir = Path(run_dir)
    chosen = resolve_formats(formats)  # a missing extra fails before any loading
    if needs_tensorflow_process(chosen):  # this process's Keras runs on JAX
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
    _, direction = run_objective(config)
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
    constraints = Constraints.from_training((config.get("space") or {}).get("training") or {})
    members = [record] if ensemble == 1 else ensemble_members(ranked, ensemble, constraints)
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
                                          seed=int(member.get("seed") or 0),
                                          class_weight=((config.get("space") or {}).get("training") or {})
                                          .get("class_weight")))
        else:
            models.append(load_keras_model(RunDirectory(run_dir).trial_model(member["trial"])))
    card = export_model(combine(models, members), dataset, out, record=record, formats=[f.name for f in chosen],
                        refit=refit, ensemble=members if len(members) > 1 else None, progress=progress)
    return Path(out), card


# Runs made before images were decoded into the cache record no data_image_size, and fingerprint other bytes.
OLD_IMAGE_RUN_HINT = (" This run was made by an earlier automl version, whose image fingerprint differs; use that "
                      "version for it, or search again into a new folder.")



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
        child = subprocess.Popen([sys.executable, "-c", "from automl.export.from_run import _export_child; _export_child()"],
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
