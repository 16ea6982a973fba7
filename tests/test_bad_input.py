"""Bad data through the real command line: every case stops with a named error before any search starts.

The cases are the ones users of other AutoML tools hit mid-search (docs ANCHORS, "Bad data"): a corrupt image
(Keras only fails mid-fit), an empty class folder (Keras silently counts it as a class), a single class, a
validation split that rounds to zero (Keras empties the training set), a CSV with an empty target cell, an
infinite feature, a feature column empty in every row (a few empty cells are imputed) or text columns, too few
samples -- plus an .npz holding an object array (refused without unpickling), a CSV whose target column is
missing, a path that does not exist and loose images without class folders.

Each refused case runs ``python -m automl search DATA --out RUN --trials 1 --quiet`` and checks: exit status
2, stderr starting with ``error:`` and naming the offending file / folder / column / class, no traceback, and
no run directory (the check comes before any work). "Before any expensive work" is checked without a timer:
the same search, run through the Python API in a fresh interpreter, raises the same named error with the same
message while ``tensorflow`` (and ``keras``) have never been imported. The two documented ways through -- a
corrupt image with ``--skip-corrupt``, a low-cardinality text column -- run one tiny trial each.
"""

from __future__ import annotations

import csv
import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from helpers import AUTOML, ENV
from PIL import Image
from sklearn.datasets import load_digits

import automl.errors
from automl.run_dir import RunDirectory

DIGITS = load_digits()

# The same search through the Python API, in a fresh interpreter: which error, and was TensorFlow imported?
# If the data pass the preflight, the probe stops the search when its progress display is started (before the
# first trial), so that a case automl wrongly accepts fails in seconds instead of running a whole search.
API_PROBE = """
import json, sys
from automl.errors import AutomlError
from automl.search_engine import search

class PreflightPassed(BaseException):
    pass

class StopBeforeTheFirstTrial:
    def message(self, text):
        print(text, file=sys.stderr)
    def start(self, *args, **kwargs):
        raise PreflightPassed
    def __getattr__(self, name):
        return lambda *args, **kwargs: None

try:
    search(progress=StopBeforeTheFirstTrial(), **json.loads(sys.argv[1]))
    outcome = {"error": None}
except PreflightPassed:
    outcome = {"error": None, "preflight_passed": True}
except AutomlError as exc:
    outcome = {"error": type(exc).__name__, "message": str(exc)}
outcome["imported"] = sorted(m for m in ("tensorflow", "keras", "torch", "jax") if m in sys.modules)
print(json.dumps(outcome))
"""

TINY_IMAGE_SPACE = """
architectures:
  cnn: {blocks: 1, filters: 16, dense_units: 32, convs_per_block: 1}
augmentations: [none]
optimizers: [adam]
training: {batch_size: 32, max_epochs: 1, patience: 1}
"""
TINY_MLP_SPACE = """
architectures:
  mlp: {layers: 1, units: 32}
augmentations: [none]
optimizers: [adam]
training: {batch_size: 32, max_epochs: 1, patience: 1}
"""


# --- helpers -------------------------------------------------------------------------------------------
def cli_flags(options: dict) -> list[str]:
    """{"val_fraction": 0.01, "skip_corrupt": True} -> ["--val-fraction", "0.01", "--skip-corrupt"]."""
    flags: list[str] = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        flags += [flag] if value is True else [flag, str(value)]
    return flags


def run_search(data: Path | str, run_dir: Path, **options) -> subprocess.CompletedProcess:
    args = [*AUTOML, "search", str(data), *cli_flags(options), "--out", str(run_dir), "--trials", "1", "--quiet"]
    return subprocess.run(args, check=False, capture_output=True, text=True, env=ENV, timeout=600)


def assert_refused(tmp_path: Path, data: Path | str, error: str, names: list[str], **options) -> str:
    """The CLI and the API both refuse `data` with `error` naming every item of `names`, before any work.

    Returns the CLI's message (without the ``error: `` prefix).
    """
    assert issubclass(getattr(automl.errors, error), automl.errors.AutomlError)
    run_dir, api_run_dir = tmp_path / "run", tmp_path / "api_run"
    cli_args = [*AUTOML, "search", str(data), *cli_flags(options), "--out", str(run_dir), "--trials", "1", "--quiet"]
    api_options = {"data": str(data), "out": str(api_run_dir), "trials": 1, **options}
    # Both interpreters start at once: the file stays at about one interpreter start-up per case.
    cli = subprocess.Popen(cli_args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                           start_new_session=True)  # its own process group: stopped with its workers, if any
    api = subprocess.Popen([sys.executable, "-c", API_PROBE, json.dumps(api_options)], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, env=ENV)
    api_out, api_err = api.communicate(timeout=300)
    assert api.returncode == 0, f"API probe failed:\n{api_out}\n{api_err}"
    outcome = json.loads(api_out.strip().splitlines()[-1])
    if outcome["error"] is None:  # accepted: do not wait for the CLI's whole search
        os.killpg(cli.pid, signal.SIGKILL)
        cli.communicate()
        pytest.fail(f"automl accepted {data} and started the search (expected {error}); API probe: {outcome}")
    cli_out, cli_err = cli.communicate(timeout=300)
    shown = f"\nexit status {cli.returncode}\nstdout:\n{cli_out}\nstderr:\n{cli_err}"

    assert cli.returncode == 2, shown
    assert cli_err.startswith("error: "), shown
    assert "Traceback" not in cli_err + cli_out, shown
    message = cli_err[len("error: "):].strip()
    for name in names:
        assert name in message, f"{name!r} is not named in the error{shown}"
    assert not run_dir.exists(), f"the run directory was created before the data were refused{shown}"

    assert outcome["error"] == error, (outcome, shown)
    assert outcome["message"] == message  # one error, whichever way the search is started
    assert outcome["imported"] == [], f"the error came only after importing {outcome['imported']}"
    assert not api_run_dir.exists()
    return message


def digit_images(digit: int, count: int) -> list[np.ndarray]:
    """`count` 8x8 uint8 images of one digit from sklearn's digits."""
    return [(img * 15).astype(np.uint8) for img in DIGITS.images[DIGITS.target == digit][:count]]


def image_folder(root: Path, classes: dict[str, int], per_class: int = 20) -> Path:
    """One sub-folder per class holding PNG digit images."""
    for name, digit in classes.items():
        (root / name).mkdir(parents=True, exist_ok=True)
        for i, pixels in enumerate(digit_images(digit, per_class)):
            Image.fromarray(pixels).save(root / name / f"{i:03d}.png")
    return root


def write_csv(path: Path, columns: dict[str, list]) -> Path:
    names = list(columns)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        writer.writerows(zip(*(columns[n] for n in names)))
    return path


def table(rows_per_class: int = 20, classes: str = "abc", seed: int = 0) -> dict[str, list]:
    """A numeric feature, a low-cardinality text feature and a text label, `rows_per_class` rows per class."""
    rng = np.random.default_rng(seed)
    n = rows_per_class * len(classes)
    return {
        "height": [f"{v:.3f}" for v in rng.normal(size=n)],
        "colour": list(rng.choice(["red", "blue"], size=n)),
        "label": [c for c in classes for _ in range(rows_per_class)],
    }


def write_corrupt_images(folder: Path) -> list[str]:
    """A truncated PNG, random bytes named .png, and an empty .jpg, beside good images."""
    data = next(folder.glob("*.png")).read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "noise.png").write_bytes(np.random.default_rng(0).bytes(300))
    (folder / "empty.jpg").write_bytes(b"")
    return ["truncated.png", "noise.png", "empty.jpg"]


# --- corrupt images ------------------------------------------------------------------------------------
def test_corrupt_images_are_all_named_before_training(tmp_path):
    root = image_folder(tmp_path / "images", {"zero": 0, "one": 1})
    bad = write_corrupt_images(root / "one")
    message = assert_refused(tmp_path, root, "CorruptImageError", [str(root), *(f"one/{b}" for b in bad)])
    assert "3 image file(s)" in message


def test_skip_corrupt_leaves_them_out_lists_them_and_searches(tmp_path):
    root = image_folder(tmp_path / "images", {"zero": 0, "one": 1})
    bad = write_corrupt_images(root / "one")
    space = tmp_path / "space.yaml"
    space.write_text(TINY_IMAGE_SPACE)
    run_dir = tmp_path / "run"
    proc = run_search(root, run_dir, skip_corrupt=True, space=space)
    shown = f"\nexit status {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    assert proc.returncode == 0, shown
    assert "Traceback" not in proc.stderr, shown
    # automl/search_engine.py: "skipped {n} unreadable file(s): {paths, at most 5}".
    lines = [line for line in proc.stderr.splitlines() if line.startswith("skipped ")]
    assert len(lines) == 1, shown
    match = re.fullmatch(r"skipped 3 unreadable file\(s\): (.+)", lines[0])
    assert match, shown
    assert sorted(Path(p).name for p in match.group(1).split(", ")) == sorted(bad)
    assert all(Path(p).parent == root / "one" for p in match.group(1).split(", "))
    rows = json.loads(subprocess.run([*AUTOML, "leaderboard", str(run_dir), "--json"], capture_output=True,
                                     text=True, env=ENV, check=True).stdout)
    assert len(rows) == 1 and rows[0]["status"] in ("complete", "pruned"), rows


# --- class folders -------------------------------------------------------------------------------------
@pytest.mark.parametrize("content", ["nothing", "no-image-files"])
def test_empty_class_folder_is_named(tmp_path, content):
    root = image_folder(tmp_path / "images", {"zero": 0, "one": 1})
    (root / "two").mkdir()
    if content == "no-image-files":  # what Keras would still count as a class
        (root / "two" / "notes.txt").write_text("todo: add images")
        (root / "two" / ".hidden.png").write_bytes(b"")
    message = assert_refused(tmp_path, root, "EmptyClassFolderError", ["'two'", str(root)])
    assert "'zero'" not in message and "'one'" not in message


def test_loose_images_without_class_folders(tmp_path):
    root = tmp_path / "images"
    root.mkdir()
    for i, pixels in enumerate(digit_images(3, 5)):
        Image.fromarray(pixels).save(root / f"{i}.png")
    message = assert_refused(tmp_path, root, "NoImagesError", [str(root)])
    assert "found 5 image(s) directly in it but no class sub-folders" in message


@pytest.mark.parametrize("source", ["image-folder", "csv"])
def test_a_single_class_is_named(tmp_path, source):
    if source == "image-folder":
        data, options = image_folder(tmp_path / "images", {"cats": 0}), {}
    else:
        data = write_csv(tmp_path / "one.csv", table(classes="c") | {"label": ["cats"] * 20})
        options = {"target": "label"}
    message = assert_refused(tmp_path, data, "SingleClassError", ["'cats'", str(data)], **options)
    assert "at least two classes" in message


# --- split sizes ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("fraction", ["val_fraction", "test_fraction"])
def test_a_split_rounding_to_zero_is_refused(tmp_path, fraction):
    # 20 images per class: 20 * 0.01 = 0.2 samples of each class for that split.
    root = image_folder(tmp_path / "images", {"zero": 0, "one": 1})
    message = assert_refused(tmp_path, root, "TooFewSamplesError", [f"{fraction}=0.01", "'zero' (20)", "'one' (20)"],
                             **{fraction: 0.01})
    assert "at least 100 samples per class" in message


@pytest.mark.parametrize("source", ["image-folder", "csv", "csv-header-only"])
def test_too_few_samples_name_the_small_classes(tmp_path, source):
    if source == "image-folder":
        data = image_folder(tmp_path / "images", {"zero": 0, "one": 1})
        image_folder(data, {"rare": 2}, per_class=3)
        options, error, names = {}, "TooFewSamplesError", ["'rare' (3)"]
    elif source == "csv":
        columns = table()
        columns["label"][:18] = ["rare"] * 3 + ["a"] * 15  # 'rare' has 3 rows, 'a' 17, 'b' and 'c' 20
        data = write_csv(tmp_path / "small.csv", columns)
        options, error, names = {"target": "label"}, "TooFewSamplesError", ["'rare' (3)"]
    else:
        data = write_csv(tmp_path / "header.csv", {"height": [], "label": []})
        options, error, names = {"target": "label"}, "TooFewSamplesError", [str(data), "no data rows"]
    message = assert_refused(tmp_path, data, error, names, **options)
    assert "'b'" not in message and "'c'" not in message


# --- CSV files -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("problem", ["empty-feature-column", "infinite-feature", "empty-target-cell"])
def test_csv_missing_values_are_named(tmp_path, problem):
    # A few empty feature cells are imputed (tests/test_missing_values.py); a column empty in every row is not.
    columns = table()
    if problem == "empty-feature-column":
        columns["height"] = [""] * len(columns["height"])
        error, names = "FeatureColumnError", ["'height'", "empty in every row"]
    elif problem == "infinite-feature":
        columns["height"][4] = "inf"
        error, names = "FeatureColumnError", ["'height' (1 infinite)"]
    else:
        columns["label"][4] = ""
        error, names = "TargetColumnError", ["'label'", "data row(s) 5"]
    data = write_csv(tmp_path / "data.csv", columns)
    message = assert_refused(tmp_path, data, error, [str(data), *names], target="label")
    assert "'colour'" not in message


def test_csv_identifier_column_is_refused(tmp_path):
    columns = table() | {"patient": [f"P-{i:04d}" for i in range(60)]}
    data = write_csv(tmp_path / "data.csv", columns)
    message = assert_refused(tmp_path, data, "FeatureColumnError", ["'patient'", str(data)], target="label")
    assert "'colour'" not in message  # the 2-level text column is a category, not a problem


def test_csv_identifier_column_in_a_small_table_is_refused(tmp_path):
    # 45 rows: fewer distinct values than the old 50-level floor, but every one of them unique.
    columns = table(rows_per_class=15) | {"patient": [f"P-{i:04d}" for i in range(45)]}
    data = write_csv(tmp_path / "data.csv", columns)
    message = assert_refused(tmp_path, data, "FeatureColumnError", ["'patient'", "'P-0000'", str(data)],
                             target="label")
    assert "45 distinct values in 45 rows" in message and "'colour'" not in message


@pytest.mark.parametrize("rows_per_class", [15, 100])  # 45 rows, and 300 (as many distinct numbers as rows)
def test_csv_numeric_column_with_a_text_cell_names_the_cell(tmp_path, rows_per_class):
    columns = table(rows_per_class=rows_per_class)
    columns["height"][7] = "1,5"  # a decimal comma, or any typo, in one cell
    data = write_csv(tmp_path / "data.csv", columns)
    message = assert_refused(tmp_path, data, "FeatureColumnError", ["'height'", "'1,5'", "data row(s) 8", str(data)],
                             target="label")
    assert "decimal point" in message
    assert "identifiers" not in message and "'colour'" not in message


def test_csv_separated_by_semicolons_says_so(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("height;label\n" + "".join(f"{i},5;{'ab'[i % 2]}\n" for i in range(40)))  # Excel, German locale
    message = assert_refused(tmp_path, data, "TargetColumnError", ["'height;label'", str(data)], target="label")
    assert "semicolon-separated" in message and "comma-separated" in message


@pytest.mark.slow  # a full search after the encoding, which test_data checks on its own
def test_csv_low_cardinality_text_column_is_one_hot_encoded_and_searched(tmp_path):
    data = write_csv(tmp_path / "data.csv", table())
    space = tmp_path / "space.yaml"
    space.write_text(TINY_MLP_SPACE)
    run_dir = tmp_path / "run"
    proc = run_search(data, run_dir, target="label", space=space)
    assert proc.returncode == 0, f"\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
    card = json.loads((RunDirectory(run_dir).best / "model_card.json").read_text())
    preprocessing = card["preprocessing"]
    assert preprocessing["categorical"] == {"colour": ["blue", "red"]}
    assert preprocessing["encoded_columns"] == ["height", "colour=blue", "colour=red"]


@pytest.mark.parametrize("given", ["wrong-name", "none"])
def test_csv_missing_target_column_lists_the_columns(tmp_path, given):
    data = write_csv(tmp_path / "data.csv", table())
    options = {"target": "Labels"} if given == "wrong-name" else {}
    names = ["'height'", "'colour'", "'label'", str(data)] + (["'Labels'", "Did you mean 'label'?"] if options else [])
    assert_refused(tmp_path, data, "TargetColumnError", names, **options)


# --- .npz files and paths ------------------------------------------------------------------------------
class _WritesAFileWhenUnpickled:
    """Unpickling this calls open(marker, "w"): the marker file proves whether anything was unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return open, (str(self.marker), "w")


@pytest.mark.parametrize("form", ["object-array-in-npz", "pickle-named-npz"])
def test_npz_needing_pickle_is_refused_without_unpickling(tmp_path, form):
    marker = tmp_path / "UNPICKLED"
    data = tmp_path / "arrays.npz"
    payload = np.array([_WritesAFileWhenUnpickled(marker)] * 20, dtype=object)
    labels = np.arange(20) % 2
    if form == "object-array-in-npz":
        np.savez(data, x=payload, y=labels)  # np.save pickles object arrays
    else:
        data.write_bytes(pickle.dumps({"x": payload, "y": labels}))
    assert not marker.exists()
    message = assert_refused(tmp_path, data, "ArrayFormatError", [str(data)])
    assert "no object arrays" in message
    assert "never loads pickled data" in message and "np.savez" in message
    assert "trust the file" not in message  # numpy's advice to load it unsafely is not passed on
    assert not marker.exists(), "the file was unpickled"


def test_missing_path_is_named(tmp_path):
    missing = tmp_path / "no_such_folder"
    assert_refused(tmp_path, missing, "DataNotFoundError", [str(missing), "does not exist"])
