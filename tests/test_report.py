"""`automl report` and `automl dashboard` on real (tiny) runs of both backends, through the real CLI."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest
from helpers import AUTOML, BROKEN_ARCHITECTURE_PLUGIN, ENV, assert_real_png, leaderboard_rows, run_cli

from automl.report import PLOTS, param_importances
from automl.run_dir import CONFIG_FILE, JOURNAL_FILE, RunDirectory

TRIALS = 6

# Two architectures, so each has conditional parameters that only some trials carry.
TINY_SPACE = """
architectures:
  cnn: {blocks: 1, filters: {low: 8, high: 16}, dense_units: 32, convs_per_block: 1}
  mlp: {layers: 1, units: {low: 32, high: 128}}
augmentations: [none]
optimizers:
  adam: {learning_rate: {low: 0.003, high: 0.01}, schedule: constant}
training: {batch_size: [32, 64], max_epochs: 3, patience: 2}
"""

def search_args(run_dir: Path, space: Path, *extra, trials: int = TRIALS) -> list[str]:
    return ["search", "builtin:digits", "--space", str(space), "--trials", str(trials), "--out", str(run_dir),
            "--seed", "0", "--workers", "0", "--quiet", *map(str, extra)]


class PageParser(HTMLParser):
    """The report page's image sources and its leaderboard table (header and rows of cell texts)."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self._in_leaderboard = False
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img":
            self.images.append(attrs["src"])
        elif tag == "table" and attrs.get("id") == "leaderboard":
            self._in_leaderboard = True
        elif self._in_leaderboard and tag == "thead":
            self._in_head = True
        elif self._in_leaderboard and tag == "tr":
            self._row = []
        elif self._in_leaderboard and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if not self._in_leaderboard:
            return
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            (self.header.extend if self._in_head else self.rows.append)(self._row)
            self._row = None
        elif tag == "thead":
            self._in_head = False
        elif tag == "table":
            self._in_leaderboard = False

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def parse_page(path: Path) -> PageParser:
    parser = PageParser()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def assert_report_matches_run(out_dir: Path, run_dir: Path, stdout: str) -> PageParser:
    """report.html parses, lists exactly the leaderboard's trials, and every <img> resolves to a written PNG."""
    page = out_dir / "report.html"
    assert str(page) in stdout
    parsed = parse_page(page)
    pngs = sorted(p.name for p in out_dir.glob("*.png"))
    assert sorted(parsed.images) == pngs and pngs, (parsed.images, pngs)
    for source in parsed.images:
        assert str(out_dir / source) in stdout  # the CLI says where each file went
        assert_real_png(out_dir / source, min_width=400)
    rows = leaderboard_rows(run_dir)
    trial_column = parsed.header.index("trial")
    assert [int(r[trial_column]) for r in parsed.rows] == [r["trial"] for r in rows]
    return parsed


# --- the runs: one per backend, made once ----------------------------------------------------------------
def search_folder(tmp_path_factory, name: str) -> tuple[Path, Path, Path]:
    """A new folder for one run: the folder, its space.yaml (TINY_SPACE), and the run directory to search into."""
    root = tmp_path_factory.mktemp(name)
    space = root / "space.yaml"
    space.write_text(TINY_SPACE)
    return root, space, root / "run"


@pytest.fixture(scope="module")
def optuna_run(tmp_path_factory) -> SimpleNamespace:
    """A 6-trial Optuna run; while it runs, `automl report` is run once on it (a run in progress)."""
    root, space, run_dir = search_folder(tmp_path_factory, "optuna_run")
    log = root / "search.log"
    with log.open("w") as output:
        # no pruner: every trial completes, so parameter importance has enough trials to work with
        search = subprocess.Popen([*AUTOML, *search_args(run_dir, space, "--pruner", "none")], env=ENV,
                                  stdout=output, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 300
            # the leaderboard is (re)written atomically after each finished trial
            board = RunDirectory(run_dir).leaderboard_csv
            while not board.exists() and search.poll() is None and time.monotonic() < deadline:
                time.sleep(0.5)
            running = search.poll() is None
            in_progress = run_cli("report", run_dir, "--out", root / "in_progress", check=False)
            search.wait(timeout=600)
        finally:
            if search.poll() is None:
                search.kill()
                search.wait()
    assert search.returncode == 0, log.read_text()
    return SimpleNamespace(run_dir=run_dir, root=root, in_progress=in_progress, was_running=running)


@pytest.fixture(scope="module")
def kerastuner_run(tmp_path_factory) -> Path:
    """4 trials: fewer complete trials than parameter importance needs, so its page shows the note."""
    _, space, run_dir = search_folder(tmp_path_factory, "kerastuner_run")
    run_cli(*search_args(run_dir, space, "--backend", "kerastuner", "--sampler", "random", trials=4))
    return run_dir


# --- automl report ---------------------------------------------------------------------------------------
def test_report_of_an_optuna_run_writes_every_plot_and_the_page(optuna_run):
    run_dir = optuna_run.run_dir
    proc = run_cli("report", run_dir)
    out_dir = RunDirectory(run_dir).report
    parsed = assert_report_matches_run(out_dir, run_dir, proc.stdout)
    rows = leaderboard_rows(run_dir)
    assert sum(r["status"] == "complete" for r in rows) >= 5, rows  # enough for parameter importance
    # every plot but the Pareto front, which a run with a second objective (--objectives) has
    assert sorted(parsed.images) == sorted(f"{name}.png" for name in PLOTS if name != "pareto_front")
    text = (out_dir / "report.html").read_text()
    assert "builtin:digits" in text and "optuna, sampler tpe, pruner none" in text
    best = next(r for r in rows if r["rank"] == 1)
    assert f"trial {best['trial']}: val_accuracy {best['val_accuracy']:.4f}" in text
    # nothing but the report folder was added to the run directory
    assert not list(out_dir.glob(".*.tmp"))


def test_report_out_and_top_options(optuna_run, tmp_path):
    out_dir = tmp_path / "elsewhere"
    proc = run_cli("report", optuna_run.run_dir, "--out", out_dir, "--top", 1)
    assert_report_matches_run(out_dir, optuna_run.run_dir, proc.stdout)
    assert (out_dir / "learning_curves.png").is_file()
    said = json.loads(run_cli("report", optuna_run.run_dir, "--out", out_dir, "--top", 1, "--json").stdout)
    assert said["html"] == str(out_dir / "report.html") and said["plots"]["learning_curves"].endswith(".png")


def test_report_of_a_run_in_progress(optuna_run):
    proc = optuna_run.in_progress
    assert proc.returncode == 0, proc.stderr
    out_dir = optuna_run.root / "in_progress"
    parsed = parse_page(out_dir / "report.html")
    # the trials finished when the report read the storage: at least one, at most all
    assert 1 <= len(parsed.rows) <= TRIALS, parsed.rows
    assert "optimization_history.png" in parsed.images
    for source in parsed.images:
        assert_real_png(out_dir / source, min_width=400)
    print(f"search still running when the report started: {optuna_run.was_running}; "
          f"{len(parsed.rows)} of {TRIALS} trials in the report")


def test_parameter_importance_from_records_names_conditional_parameters(optuna_run):
    from automl.backends import read_records
    from automl.search_engine import read_config

    run_dir = optuna_run.run_dir
    records = read_records(read_config(run_dir), run_dir)
    result = param_importances(records, "maximize")
    assert result.values, result.note
    assert abs(sum(result.values.values()) - 1.0) < 1e-6
    assert "adam.learning_rate" in result.values  # every trial has it and it varies
    complete = [r for r in records if r["status"] == "complete"]
    architectures = {r["candidate"]["architecture"] for r in complete}
    if len(architectures) > 1:  # cnn.* and mlp.* exist only in some trials: left out, and said so
        assert not any(name.startswith(("cnn.", "mlp.")) for name in result.values)
        assert result.conditional and all(name.startswith(("cnn.", "mlp.")) for name in result.conditional)
        assert "only some trials" in result.note and all(name in result.note for name in result.conditional)

    too_few = param_importances(complete[:2], "maximize")
    assert too_few.values is None and too_few.note.startswith("not enough trials")
    assert "at least 5 complete trials" in too_few.note and "has 2" in too_few.note
    flat = [{**r, "objective": 0.5} for r in complete]
    same = param_importances(flat, "maximize")
    assert same.values is None and "same objective" in same.note


def test_leaderboard_cells_are_escaped_and_failed_trials_are_plotted(optuna_run, tmp_path):
    from automl import leaderboard
    from automl.backends import read_records
    from automl.report import leaderboard_html, plot_optimization_history, png_bytes
    from automl.search_engine import read_config

    run_dir = optuna_run.run_dir
    records = read_records(read_config(run_dir), run_dir)
    failed = {"trial": len(records), "status": "failed", "reason": "RuntimeError: <script>alert(1)</script> & co"}
    table = leaderboard_html(leaderboard.build([*records, failed], "maximize"))
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; co" in table and "<script>" not in table
    png = tmp_path / "history.png"
    png.write_bytes(png_bytes(plot_optimization_history([*records, failed], "maximize", "val_accuracy")))
    assert_real_png(png, min_width=400)


def test_report_of_a_kerastuner_run(kerastuner_run):
    proc = run_cli("report", kerastuner_run)
    out_dir = RunDirectory(kerastuner_run).report
    parsed = assert_report_matches_run(out_dir, kerastuner_run, proc.stdout)
    assert sorted(parsed.images) == ["learning_curves.png", "optimization_history.png", "parallel_coordinates.png"]
    text = (out_dir / "report.html").read_text()
    assert "kerastuner, sampler random" in text and "state.json" in text
    # too few complete trials for parameter importance: said on the page and by the CLI, not a crash
    assert "not enough trials: parameter importance needs at least 5 complete trials" in text
    assert "note (param importance): not enough trials" in proc.stdout


def test_report_of_a_run_without_finished_trials_is_a_clear_error(optuna_run, tmp_path):
    # Every trial fails: the search stops after two, and there is nothing to plot.
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "broken.py").write_text(BROKEN_ARCHITECTURE_PLUGIN)
    space = tmp_path / "space.yaml"
    space.write_text("architectures: [broken]\naugmentations: [none]\noptimizers: [adam]\n")
    failed_run = tmp_path / "failed"
    search = run_cli("search", "builtin:digits", "--space", space, "--trials", 2, "--out", failed_run, "--quiet",
                     "--workers", 0, "--plugins-dir", plugins, "--max-consecutive-failures", 2, check=False)
    assert search.returncode == 1, search.stderr  # no completed trial: the search itself says so
    proc = run_cli("report", failed_run, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "has no finished trial yet (2 recorded, 2 failed)" in proc.stderr
    assert "at least one complete or pruned trial" in proc.stderr and "Traceback" not in proc.stderr
    assert not RunDirectory(failed_run).report.exists()

    # A search killed before its first trial: its experiment file and no study storage yet.
    not_started = RunDirectory(tmp_path / "not_started")
    not_started.root.mkdir()
    shutil.copy(RunDirectory(optuna_run.run_dir).config, not_started.config)
    proc = run_cli("report", not_started.root, check=False)
    assert proc.returncode == 2 and "has no trial yet" in proc.stderr and str(not_started.journal) in proc.stderr
    assert not not_started.journal.exists()  # reading must not create the storage


def test_report_refuses_a_folder_that_is_not_a_run_and_a_bad_top(optuna_run, tmp_path):
    proc = run_cli("report", tmp_path, check=False)
    assert proc.returncode == 2
    assert f"is not an automl run directory (it has no {CONFIG_FILE})" in proc.stderr
    proc = run_cli("report", optuna_run.run_dir, "--top", 0, check=False)
    assert proc.returncode == 2 and "--top" in proc.stderr and "got 0" in proc.stderr


# --- automl dashboard ------------------------------------------------------------------------------------
def test_dashboard_of_a_kerastuner_run_points_to_report(kerastuner_run):
    proc = run_cli("dashboard", kerastuner_run, check=False, timeout=120)
    assert proc.returncode == 2
    assert "kerastuner backend" in proc.stderr and "needs a run of the optuna backend" in proc.stderr
    assert f"automl report {kerastuner_run}" in proc.stderr


def test_dashboard_without_optuna_dashboard_says_how_to_install_it(optuna_run):
    # The package may be installed here: a None entry in sys.modules makes `import optuna_dashboard` fail
    # exactly as it does where it is missing, and the real CLI runs from there.
    code = ("import sys; sys.modules['optuna_dashboard'] = None; "
            f"sys.argv = ['automl', 'dashboard', {str(optuna_run.run_dir)!r}]; "
            "from automl.cli import main; main()")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "optuna-dashboard, which is not installed" in proc.stderr
    assert "pip install optuna-dashboard" in proc.stderr and "Traceback" not in proc.stderr


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start_dashboard(run_dir: Path) -> tuple[subprocess.Popen, int, dict]:
    """A running `automl dashboard` on a free port, once it answers: (process, port, /api/studies)."""
    port = _free_port()
    server = subprocess.Popen([*AUTOML, "dashboard", str(run_dir), "--port", str(port)], env=ENV,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    studies, deadline = None, time.monotonic() + 90
    while studies is None and server.poll() is None and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/studies", timeout=5) as response:
                studies = json.loads(response.read())
        except OSError:
            time.sleep(0.5)
    if studies is None:
        server.kill()
        output, _ = server.communicate()
        pytest.fail(f"the dashboard did not answer on port {port}:\n{output}")
    return server, port, studies


def _stop(server: subprocess.Popen, signal_number: int) -> str:
    try:
        server.send_signal(signal_number)
        output, _ = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate()
    return output


def test_dashboard_serves_the_run_study(optuna_run):
    pytest.importorskip("optuna_dashboard")
    server, port, studies = _start_dashboard(optuna_run.run_dir)
    try:
        summaries = studies["study_summaries"]
        assert [s["study_name"] for s in summaries] == ["automl"]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as response:  # redirects to the app
            assert response.status == 200 and "Optuna Dashboard" in response.read().decode()
        taken = run_cli("dashboard", optuna_run.run_dir, "--port", port, check=False, timeout=120)
        assert taken.returncode == 2 and f"could not listen on 127.0.0.1:{port}" in taken.stderr, taken.stderr
    finally:
        output = _stop(server, signal.SIGINT)  # Ctrl+C: a clean stop
    assert server.returncode == 0, output
    assert f"http://127.0.0.1:{port}/" in output and JOURNAL_FILE in output and "dashboard stopped" in output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_dashboard_started_in_the_background_stops_cleanly(optuna_run, stop_signal):
    """A background job of a non-interactive shell (`automl dashboard RUN &`) inherits SIGINT ignored; `kill`
    and service managers send SIGTERM. Either way the dashboard says it stopped and exits 0."""
    pytest.importorskip("optuna_dashboard")
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)  # inherited by the dashboard, as from `cmd &`
    try:
        server, _, _ = _start_dashboard(optuna_run.run_dir)
    finally:
        signal.signal(signal.SIGINT, previous)
    output = _stop(server, stop_signal)
    assert server.returncode == 0 and "dashboard stopped" in output, output
