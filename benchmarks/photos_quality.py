"""Search quality on photos: automl against one long fit of the tutorial CNN and a KerasTuner search.

For each seed, a folder of photo-like 640-px JPEGs (``automl.testing.photos``: four shape classes on
gradient backgrounds, mixed sizes and aspect ratios, a quarter stored turned with an EXIF orientation) for
training and a second, disjoint folder drawn with another seed for the held-out test, written once under
``benchmarks/.work/photos_quality`` and re-used. Then, one after another on the same cores:

* ``automl``: ``automl search TRAIN --time-budget B --seed S --out RUN --quiet`` with every other option at
  its default, then ``automl predict RUN TEST``. Its wall time W runs from the command's start to the
  exported model (the search's final evaluation and export included);
* ``tutorial_cnn``: one ``model.fit`` of the TensorFlow tutorial's CNN (``image_dataset_from_directory``
  at 64x64 with a 20 % validation split, random flip / rotation / zoom, four conv layers with max pooling,
  global average pooling, dropout, Adam 1e-3) for up to 80 epochs with early stopping (patience 25 on the
  validation loss, best weights restored), stopped at W;
* ``kerastuner``: ``keras_tuner.Hyperband`` over that CNN (filters, depth, dense units, dropout, learning
  rate; max 30 epochs, factor 3, early stopping patience 5), on the same ``image_dataset_from_directory``
  datasets, no further trial handed out after W, its best model evaluated on the test folder.

The peers get automl's measured W as their wall budget, so every tool has the same time from its start
to a model in hand. ``image_dataset_from_directory`` does not apply the EXIF orientation (what a Keras
user gets); the drawn shapes are at random rotations anyway, so a turned photo is still of its class.

The key ``photos_test_accuracy_margin`` is automl's mean held-out accuracy minus the better peer's mean
(goal: at least 0.03). Beside it: per-seed accuracies, trials finished, automl's time to its first
finished trial and to its first trial at twice chance on the validation split, and the trials that ended
at chance without a pruning reason. Every finished run is appended to
``benchmarks/out/photos_quality-<budget>s-d<difficulty>-n<per class>.jsonl`` as it finishes; a rerun with the
same budget skips the runs found there (``--fresh`` starts over). The margin is stored in ``results.json``
only for three seeds or more; a run of fewer (a probe) and ``--quick`` store into ``results-quick.json``.

    python benchmarks/photos_quality.py [--seeds 3] [--budget 600] [--difficulty 0.5] [--tools ...]
        [--quick] [--fresh]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from baselines import deadline_callback
from common import ENV, HERE, automl_cli, leaderboard_rows, result, store
from search_quality import automl_trial_times

OUT = HERE / "out"
WORK = HERE / ".work" / "photos_quality"
TOOLS = ("automl", "tutorial_cnn", "kerastuner")
PEER_SIZE = (64, 64)  # the tutorials' fixed input size, and automl's default for these photos on a CPU
TRAIN_PER_CLASS, TEST_PER_CLASS = 300, 100


# --- the data ------------------------------------------------------------------------------------------
def folders(seed: int, difficulty: float, per_class: int, test_per_class: int) -> tuple[Path, Path]:
    from automl.testing.photos import write_photo_folder

    where = WORK / f"d{difficulty}-s{seed}-n{per_class}"
    train = write_photo_folder(where / "train", per_class=per_class, seed=1000 + seed, difficulty=difficulty)
    test = write_photo_folder(where / "test", per_class=test_per_class, seed=2000 + seed, difficulty=difficulty)
    return train.root, test.root


def folder_labels(test: Path) -> dict[str, str]:
    """Each test file's class: the name of the folder it is in."""
    return {str(path): path.parent.name for path in sorted(test.rglob("*")) if path.is_file()
            and not path.name.startswith(".")}


# --- automl --------------------------------------------------------------------------------------------
def run_automl(seed: int, budget: float, train: Path, test: Path, folder: Path) -> dict:
    import csv

    run_dir = folder / f"automl-{seed}"
    launched_at = time.time()
    automl_cli("search", train, "--time-budget", f"{int(budget)}s", "--seed", seed, "--out", run_dir, "--quiet")
    seconds = time.time() - launched_at
    predictions = run_dir / "held_out_predictions.csv"
    automl_cli("predict", run_dir, test, "--out", predictions)
    labels = folder_labels(test)
    with predictions.open() as handle:
        rows = list(csv.DictReader(handle))
    correct = sum(labels[str(Path(row["input"]))] == row["prediction"] for row in rows)
    trials = leaderboard_rows(run_dir)
    finished = [r for r in trials if r["status"] in ("complete", "pruned")]
    chance = 1.0 / len(set(labels.values()))
    at_chance = [{"trial": r["trial"], "status": r["status"], "val_accuracy": r["val_accuracy"],
                  "epochs": r["epochs"], "reason": r.get("reason") or ""}
                 for r in finished if r["val_accuracy"] is not None and r["val_accuracy"] <= chance + 0.05]
    times = automl_trial_times(run_dir, launched_at)
    useful = next((t for t, score in times if score >= 2 * chance), None)
    return {"tool": "automl", "seed": seed, "test_accuracy": correct / len(rows), "predicted": len(rows),
            "seconds": seconds, "finished_trials": len(finished), "trials": times,
            "first_trial_seconds": times[0][0] if times else None, "first_useful_seconds": useful,
            "at_chance": at_chance, "unexplained_at_chance": [r for r in at_chance if not r["reason"]],
            "best": {k: finished and max(finished, key=lambda r: r["val_accuracy"] or 0).get(k)
                     for k in ("architecture", "augmentation", "optimizer", "epochs", "val_accuracy")}}


# --- the peers, each in a process of its own ----------------------------------------------------------------
def peer_datasets(train: Path, test: Path, seed: int):
    import keras
    import tensorflow as tf

    train_ds, val_ds = keras.utils.image_dataset_from_directory(
        train, validation_split=0.2, subset="both", seed=seed, image_size=PEER_SIZE, batch_size=32, verbose=False)
    test_ds = keras.utils.image_dataset_from_directory(test, image_size=PEER_SIZE, batch_size=32, shuffle=False,
                                                       verbose=False)
    classes = len(train_ds.class_names)
    autotune = tf.data.AUTOTUNE
    return (train_ds.cache().shuffle(1000, seed=seed).prefetch(autotune), val_ds.cache().prefetch(autotune),
            test_ds.cache().prefetch(autotune), classes)


def tutorial_cnn(classes: int, filters: int = 16, convs: int = 4, dense: int = 128, dropout: float = 0.2,
                 learning_rate: float = 1e-3):
    """The tutorials' CNN: rescaling, augmentation, conv + max-pool layers doubling in width, pooling, a head."""
    import keras
    from keras import layers

    model = keras.Sequential([keras.Input((*PEER_SIZE, 3)), layers.Rescaling(1.0 / 255),
                              layers.RandomFlip("horizontal"), layers.RandomRotation(0.1), layers.RandomZoom(0.1)])
    for i in range(convs):
        model.add(layers.Conv2D(filters * 2 ** i, 3, padding="same", activation="relu"))
        model.add(layers.MaxPooling2D())
    model.add(layers.GlobalAveragePooling2D())
    model.add(layers.Dropout(dropout))
    model.add(layers.Dense(dense, activation="relu"))
    model.add(layers.Dense(classes))
    model.compile(optimizer=keras.optimizers.Adam(learning_rate),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    return model


def run_tutorial_cnn(train: Path, test: Path, seed: int, deadline: float, launched_at: float) -> dict:
    import keras

    keras.utils.set_random_seed(seed)
    train_ds, val_ds, test_ds, classes = peer_datasets(train, test, seed)
    model = tutorial_cnn(classes)
    history = model.fit(train_ds, validation_data=val_ds, epochs=80, verbose=0, callbacks=[
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=25, restore_best_weights=True), deadline_callback(deadline)])
    scores = history.history["val_accuracy"]
    return {"test_accuracy": float(model.evaluate(test_ds, verbose=0)[1]), "finished_trials": 1,
            "epochs": len(scores), "trials": [[time.time() - launched_at, float(max(scores))]]}


def run_kerastuner(train: Path, test: Path, seed: int, deadline: float, launched_at: float) -> dict:
    import keras
    import keras_tuner as kt

    keras.utils.set_random_seed(seed)
    train_ds, val_ds, test_ds, classes = peer_datasets(train, test, seed)
    events: list[list[float]] = []

    def build(hp):
        return tutorial_cnn(classes, filters=hp.Choice("filters", [16, 32, 64]), convs=hp.Int("convs", 3, 4),
                            dense=hp.Choice("dense", [64, 128, 256]), dropout=hp.Float("dropout", 0.0, 0.5, step=0.1),
                            learning_rate=hp.Float("learning_rate", 1e-4, 1e-2, sampling="log"))

    class Tuner(kt.Hyperband):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            if trial.metrics.exists("val_accuracy"):
                events.append([time.time() - launched_at, float(trial.metrics.get_best_value("val_accuracy"))])
            if time.time() >= deadline:  # the oracle hands out no further trial
                self.oracle.max_trials = len(self.oracle.trials)

    with tempfile.TemporaryDirectory() as directory:
        tuner = Tuner(build, objective="val_accuracy", max_epochs=30, factor=3, seed=seed, directory=directory,
                      project_name="photos", overwrite=True)
        tuner.search(train_ds, validation_data=val_ds, verbose=0, callbacks=[
            keras.callbacks.EarlyStopping(monitor="val_loss", patience=5), deadline_callback(deadline)])
        best = tuner.get_best_models(1)[0]
        return {"test_accuracy": float(best.evaluate(test_ds, verbose=0)[1]), "finished_trials": len(events),
                "trials": events}


PEERS = {"tutorial_cnn": run_tutorial_cnn, "kerastuner": run_kerastuner}


def run_peer(tool: str, seed: int, budget: float, train: Path, test: Path, folder: Path) -> dict:
    out = folder / f"{tool}-{seed}.json"
    launched_at = time.time()
    subprocess.run([sys.executable, __file__, "--peer", tool, "--seed", str(seed), "--budget", str(budget),
                    "--train", str(train), "--test", str(test), "--peer-out", str(out),
                    "--launched-at", str(launched_at)], env=ENV, check=True, capture_output=True)
    found = json.loads(out.read_text())
    return {"tool": tool, "seed": seed, "seconds": time.time() - launched_at, **found}


def peer_main(args) -> None:
    launched_at = args.launched_at or time.time()
    found = PEERS[args.peer](Path(args.train), Path(args.test), args.seed, launched_at + args.budget, launched_at)
    Path(args.peer_out).write_text(json.dumps(found))


# --- the whole comparison ----------------------------------------------------------------------------------
def load_finished(path: Path) -> dict[tuple[str, int], dict]:
    finished = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                run = json.loads(line)
                finished[run["tool"], run["seed"]] = run
    return finished


def summarise(runs: list[dict], tools: list[str], seeds: int) -> dict[str, dict]:
    by_tool = {tool: [r for r in runs if r["tool"] == tool] for tool in tools}
    return {tool: {"mean_test_accuracy": round(statistics.fmean(r["test_accuracy"] for r in found), 4),
                   "per_seed": [round(r["test_accuracy"], 4) for r in sorted(found, key=lambda r: r["seed"])],
                   "finished_trials": [r["finished_trials"] for r in sorted(found, key=lambda r: r["seed"])],
                   "seconds": [round(r["seconds"]) for r in sorted(found, key=lambda r: r["seed"])]}
            for tool, found in by_tool.items() if len(found) == seeds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--budget", type=float, default=600.0, help="automl's --time-budget in seconds (600)")
    parser.add_argument("--difficulty", type=float, default=0.5)
    parser.add_argument("--per-class", type=int, default=TRAIN_PER_CLASS, help="training photos per class")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--quick", action="store_true", help="1 seed, 60 s, 60 photos a class (a smoke run)")
    parser.add_argument("--fresh", action="store_true", help="ignore the runs an earlier invocation finished")
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    for name in ("--seed", "--launched-at"):
        parser.add_argument(name, type=float if name == "--launched-at" else int, help=argparse.SUPPRESS)
    for name in ("--train", "--test", "--peer-out"):
        parser.add_argument(name, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        return peer_main(args)
    if args.quick:
        args.seeds, args.budget, args.per_class = 1, 60.0, 60
    OUT.mkdir(exist_ok=True)
    log = OUT / f"photos_quality-{int(args.budget)}s-d{args.difficulty}-n{args.per_class}.jsonl"
    if args.fresh and log.exists():
        log.unlink()
    finished = load_finished(log)
    with tempfile.TemporaryDirectory(prefix="photos-quality-") as scratch:
        for seed in range(args.seeds):
            train, test = folders(seed, args.difficulty, args.per_class, max(25, args.per_class // 3))
            wall = finished.get(("automl", seed), {}).get("seconds")
            for tool in args.tools:  # automl first: its wall time is the peers' budget
                if (tool, seed) in finished:
                    continue
                if tool == "automl":
                    run = run_automl(seed, args.budget, train, test, Path(scratch))
                    wall = run["seconds"]
                else:
                    run = run_peer(tool, seed, wall or args.budget, train, test, Path(scratch))
                finished[tool, seed] = run
                with log.open("a") as handle:
                    handle.write(json.dumps(run) + "\n")
                print(f"seed {seed} {tool:<13} test accuracy {run['test_accuracy']:.4f}  "
                      f"{run['finished_trials']} trial(s)  {run['seconds']:.0f} s", flush=True)
    runs = [run for (tool, seed), run in finished.items() if seed < args.seeds and tool in args.tools]
    summary = summarise(runs, args.tools, args.seeds)
    print(json.dumps(summary, indent=2))
    peers = [summary[t]["mean_test_accuracy"] for t in ("tutorial_cnn", "kerastuner") if t in summary]
    if "automl" not in summary or not peers:
        return
    margin = round(summary["automl"]["mean_test_accuracy"] - max(peers), 4)
    automl_runs = sorted((r for r in runs if r["tool"] == "automl"), key=lambda r: r["seed"])
    command = (f"python benchmarks/photos_quality.py --seeds {args.seeds} --budget {int(args.budget)} "
               f"--difficulty {args.difficulty} --per-class {args.per_class}")
    store({"photos_test_accuracy_margin": result(
        "photos_test_accuracy_margin", margin, command, tools=summary,
        first_trial_seconds=[r["first_trial_seconds"] for r in automl_runs],
        first_useful_seconds=[r["first_useful_seconds"] for r in automl_runs],
        unexplained_at_chance=[r["unexplained_at_chance"] for r in automl_runs],
        best=[r["best"] for r in automl_runs])},
        # A run of fewer seeds than the three is a probe: it goes to the smoke file, not over the record.
        quick=args.quick or args.seeds < 3)


if __name__ == "__main__":
    main()
