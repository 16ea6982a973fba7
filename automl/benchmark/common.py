"""What both benchmarks share: the output folder's protocol (identity, lock, one stored result per spec),
name and number checks, the versions recorded, and the progress display."""

from __future__ import annotations

import hashlib
import json
import math
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from automl.errors import ConfigError, RunDirectoryError
from automl.io import safe_name
from automl.leaderboard import is_finite_number

if TYPE_CHECKING:
    from automl.plugin_manager import Registry

CONFIG_FILE = "benchmark.json"
DEFAULT_ARCHITECTURES = {"image": ("cnn", "mlp"), "tabular": ("mlp",)}
# Ranking metric -> True when higher is better. Accuracies are those of the model at its best epoch (the
# lowest validation loss, whose weights the trainer restores), except final_val_accuracy (the last epoch).
METRICS = {"test_accuracy": True, "val_accuracy": True, "final_val_accuracy": True, "val_loss": False}
TUNING_SEED = 1_000_000  # never one of the evaluation seeds 0..K-1: the learning rate is not picked on them
DEFAULT_SAMPLERS = ("optuna:tpe", "optuna:random", "optuna:cmaes", "kerastuner:hyperband", "kerastuner:bayesian")
DEFAULT_SAMPLER_TRIALS = 12



# --- shared helpers ------------------------------------------------------------------------------------
def parse_names(text: str | Sequence[str] | None) -> list[str] | None:
    """``"adam, sgd"`` or ``["adam", "sgd"]`` → ``["adam", "sgd"]`` (order kept, duplicates dropped)."""
    if text is None:
        return None
    parts = text.split(",") if isinstance(text, str) else [p for item in text for p in str(item).split(",")]
    names = [p.strip() for p in parts if p.strip()]
    return list(dict.fromkeys(names))


def parse_lr_grid(text: str | None) -> list[float] | None:
    """``"0.3,1,3"`` → multipliers of each optimizer's default learning rate."""
    if text is None:
        return None
    try:
        values = [float(p) for p in text.split(",") if p.strip()]
    except ValueError:
        values = []
    if not values or any(not math.isfinite(v) or v <= 0 for v in values):
        raise ConfigError(f"--lr-grid takes positive multipliers of each optimizer's default learning rate, "
                          f"e.g. 0.3,1,3; got {text!r}.")
    return sorted(set(values))


def check_positive(name: str, value: int | None, example: str) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ConfigError(f"{name} must be a whole number of at least 1; got {value!r}. For example: {example}.")


def check_plugin_names(registry: Registry, family: str, names: Sequence[str] | None, option: str) -> None:
    if names is None:
        return
    if not names:
        raise ConfigError(f"{option} lists no name; give at least one of: {', '.join(registry.names(family))}.")
    registry.check_installed(family, names, lambda unknown, installed: (
        f"{option}: unknown {family} plugin(s) {unknown}; installed {family} plugins: {installed}. Fix the name(s), "
        "or see `automl plugins`."))


def data_name(data: str) -> str:
    return safe_name(data.split(":", 1)[1] if data.startswith("builtin:") else Path(data).stem)


def resolve_out(out: str | Path) -> Path:
    path = Path(out).expanduser()
    if path.exists() and not path.is_dir():
        raise RunDirectoryError(f"--out {str(path)!r} is a file; pass a folder for the benchmark.")
    return path


def check_same_benchmark(out: Path, identity: dict[str, Any]) -> None:
    """Refuse to mix two different benchmarks in one folder (its results would no longer be comparable)."""
    path = out / CONFIG_FILE
    if not path.is_file():
        return
    previous = json.loads(path.read_text())
    changed = sorted(k for k in set(identity) | set(previous) if previous.get(k) != identity.get(k))
    if changed:
        raise RunDirectoryError(
            f"{out} holds a different benchmark: {', '.join(changed)} differ from its {CONFIG_FILE} "
            f"(there: {', '.join(f'{k}={previous.get(k)!r}' for k in changed)}). Re-run with the same options to "
            "continue it, or pass a new --out."
        )


def lock_folder(out: Path):
    from filelock import FileLock, Timeout

    lock = FileLock(str(out / ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunDirectoryError(f"another automl benchmark is running on {out} (its lock {out / '.lock'} is held); "
                                "wait for it to finish or pass another --out.") from None
    return lock


def spec_key(spec: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()[:10]


def read_stored(path: Path, spec: dict[str, Any]) -> dict[str, Any] | None:
    """A finished result stored at ``path`` for exactly ``spec``, or None."""
    if not path.is_file():
        return None
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return stored if stored.get("spec") == json.loads(json.dumps(spec, default=str)) else None


def versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    from automl.data.images import usable_cores

    versions = {"python": platform.python_version(), "machine": f"{platform.machine()}, {usable_cores()} CPU cores"}
    for package in ("automl", "tensorflow", "keras", "optuna", "keras-tuner", "numpy", "scipy"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return versions


def now_text() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


class Display:
    """Benchmark progress on stderr: rich bars (items done of N with ETA; the running item's epochs or trials),
    or with ``quiet`` one plain line per finished item (for logs and CI)."""

    def __init__(self, quiet: bool, total: int, unit: str) -> None:
        self.quiet = quiet
        self.progress = None
        if quiet:
            return
        from rich.console import Console

        from automl.progress import progress_bars

        self.progress = progress_bars(Console(stderr=True))
        self.progress.start()
        self.outer = self.progress.add_task(unit, total=total, info="")
        self.inner = self.progress.add_task("", total=1, info="", visible=False)

    def begin(self, description: str, steps: int | None) -> None:
        if self.progress is not None:
            self.progress.update(self.inner, description=description, total=steps, completed=0, info="", visible=True)

    def step(self, completed: int, info: str = "") -> None:
        if self.progress is not None:
            self.progress.update(self.inner, completed=completed, info=info)

    def end(self, line: str) -> None:
        if self.progress is not None:
            self.progress.advance(self.outer)
            self.progress.console.print(line)
        else:
            print(line, file=sys.stderr, flush=True)

    def message(self, text: str) -> None:
        if self.progress is not None:
            self.progress.console.print(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()


def score_text(value: Any) -> str:
    return f"{value:.4f}" if is_finite_number(value) else "-"


def seeds_text(seeds: int) -> str:
    return "seed 0" if seeds == 1 else f"seeds 0..{seeds - 1}"


