"""Peak memory of a whole image search (parent and worker processes together) as the folder grows.

For each size (1,000, 5,000 and 20,000 photo-like 640-px JPEGs in 4 classes, ``automl.testing.photos``,
written once under ``benchmarks/.work/photos_N`` and re-used) and each worker count (1 and 2), one search
with the default options is run the way a user runs it::

    automl search benchmarks/.work/photos_N --trials 3 --time-budget 10m --out <fresh run dir> --quiet \
        --seed 0 --workers K

each with a fresh, empty ``AUTOML_CACHE_DIR``, so the first decode of the folder is part of what is measured.
``proc_memory.py`` samples the search's whole process tree every 0.2 s and keeps the peak of the summed PSS
(pages shared by several processes, such as the memory-mapped uint8 cache every worker reads, count once:
the figure to compare with the machine's memory) and, beside it, of the summed RSS (shared pages counted in
every process) and the largest process count. Per run it records those peaks, the exit code, the trials per
status in ``RUN/leaderboard.csv``, the command's seconds and seconds per completed trial (the whole command,
TensorFlow imports, the decode, the final test evaluation and the export included, ÷ completed trials), and
the cache's size (the ``pixels.npy`` files under that ``AUTOML_CACHE_DIR``), and which processes memory-mapped
a ``pixels.npy`` (``cache_mapped_by``: the workers should, rather than hold a copy). ``--time-budget`` is passed to
automl so a slow search stops cleanly instead of running for hours; whether its trials completed is
recorded.

Keys (``K`` = the worker count; goals only for 1 and 2):

* ``image_memory_peak_gb_1_worker``: the largest peak PSS (GB) over the sizes with ``--workers 1``, goal
  ≤ 3 (i.e. at every size);
* ``image_memory_peak_gb_2_workers``: the same with ``--workers 2``, goal ≤ 4;
* ``image_memory_growth_vs_cache``: (peak PSS at the largest size − peak PSS at the smallest) ÷ the uint8
  cache size at the largest size, the worse of the worker counts, goal ≤ 1: memory may grow by the cache
  itself (which is shared) and not by copies of it. Both numbers are stored per worker count.

A run that exits non-zero or is killed makes its key ``met: false`` (its peak may be low because it stopped
early), with the reason. A peak shorter than the 0.2 s between samples can be missed.

    python benchmarks/image_memory.py [--sizes 1000 5000 20000] [--workers 1 2] [--time-budget 10m]
        [--work-dir benchmarks/.work] [--keep] [--quick]

``--quick``: sizes 200, workers 1 and 2, budget 2m (a smoke run into results-quick.json, not a result);
options given beside it override those.
"""

from __future__ import annotations

import argparse
import csv
import json
import re
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

from common import ENV, HERE, result, store
from proc_memory import run_sampled

DEFAULTS = {"sizes": [1000, 5000, 20000], "workers": [1, 2], "time_budget": "10m"}
QUICK = {"sizes": [200], "workers": [1, 2], "time_budget": "2m"}
CLASSES = 4  # automl.testing.photos' default classes
LONG_SIDE = 640
# Past the budget, the search still tests and exports its best trials; past this much more it is killed.
GRACE_SECONDS = 15 * 60


def seconds(text: str) -> float:
    match = re.fullmatch(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s?)?", text.strip().lower())
    if not text.strip() or match is None:
        raise argparse.ArgumentTypeError(f"a duration looks like 90, 90s, 10m or 1h30m; got {text!r}")
    hours, minutes, secs = (float(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + secs


def photo_folder(work: Path, images: int) -> tuple[Path, int, int]:
    """The folder of `images` photos (rounded up to a multiple of the 4 classes): path, images, bytes on disk."""
    from automl.testing.photos import write_photo_folder

    per_class = -(-images // CLASSES)
    started = time.perf_counter()
    folder = write_photo_folder(work / f"photos_{per_class * CLASSES}", per_class=per_class, long_side=LONG_SIDE)
    took = time.perf_counter() - started
    if took > 5:
        print(f"wrote {len(folder.files)} photos to {folder.root} in {took:.0f} s", flush=True)
    return folder.root, len(folder.files), folder.bytes_on_disk


def cache_bytes(cache_dir: Path) -> tuple[int, list[str]]:
    """Bytes of the uint8 pixel arrays under an AUTOML_CACHE_DIR, and their resolutions (e.g. 64x64-rgb)."""
    files = sorted(cache_dir.rglob("pixels.npy"))
    return sum(f.stat().st_size for f in files), [f.parent.name for f in files]


def statuses(run_dir: Path) -> dict[str, int]:
    try:
        with open(run_dir / "leaderboard.csv", newline="") as handle:
            return dict(Counter(row.get("status", "?") for row in csv.DictReader(handle)))
    except OSError:
        return {}


def machine_memory_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) * 1024 / 1e9, 1)
    except OSError:
        pass
    return None


def run(folder: Path, images: int, workers: int, budget: str, scratch: Path, keep: bool) -> dict:
    """One search under the sampler, with a fresh cache and run directory."""
    tag = f"{images}-w{workers}-{time.strftime('%Y%m%d-%H%M%S')}"
    cache_dir, run_dir = scratch / f"cache-{tag}", scratch / f"run-{tag}"
    for path in (cache_dir, run_dir):
        shutil.rmtree(path, ignore_errors=True)
    cache_dir.mkdir(parents=True)
    command = [sys.executable, "-m", "automl", "search", str(folder), "--trials", "3", "--time-budget", budget,
               "--out", str(run_dir), "--quiet", "--seed", "0", "--workers", str(workers)]
    measured = run_sampled(command, env={**ENV, "AUTOML_CACHE_DIR": str(cache_dir)},
                           timeout=seconds(budget) + GRACE_SECONDS, watch=("pixels.npy",))
    cache_size, resolutions = cache_bytes(cache_dir)
    counts = statuses(run_dir)
    completed = counts.get("complete", 0)
    row = {
        "images": images, "workers": workers, "pss_gb": measured.peaks["pss_gb"], "rss_gb": measured.peaks["rss_gb"],
        "processes": measured.peaks["processes"], "returncode": measured.returncode, "timed_out": measured.timed_out,
        "trials": counts, "completed_trials": completed, "seconds": round(measured.seconds, 1),
        "seconds_per_completed_trial": round(measured.seconds / completed, 1) if completed else None,
        "cache_bytes": cache_size, "cache_resolutions": resolutions, "samples": measured.peaks["samples"],
        "cache_mapped_by": [f"{m['command'][:90]} (from {m['first_seen_s']} s)" for m in measured.peaks["mapped_by"]],
        "at_pss_peak": measured.peaks["at_pss_peak"], "timeline_s_pss_rss_procs": measured.timeline,
    }
    if measured.returncode != 0:
        row["output_tail"] = measured.output_tail[-3000:]
    if not keep:
        shutil.rmtree(cache_dir, ignore_errors=True)
        shutil.rmtree(run_dir, ignore_errors=True)
    return row


def peak_key(workers: int) -> str:
    return f"image_memory_peak_gb_{workers}_worker{'' if workers == 1 else 's'}"


def problems(rows: list[dict]) -> list[str]:
    found = []
    for r in rows:
        if r["timed_out"]:
            found.append(f"{r['images']} images, {r['workers']} worker(s): killed after {r['seconds']} s")
        elif r["returncode"] != 0:
            found.append(f"{r['images']} images, {r['workers']} worker(s): exit {r['returncode']}")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", help=f"images per folder [default: {DEFAULTS['sizes']}]")
    parser.add_argument("--workers", type=int, nargs="+", help=f"worker counts [default: {DEFAULTS['workers']}]")
    parser.add_argument("--time-budget", help=f"automl's --time-budget per search [default: {DEFAULTS['time_budget']}]")
    parser.add_argument("--work-dir", type=Path, default=HERE / ".work",
                        help="photo folders (kept, re-used), caches and run dirs (removed) [default: benchmarks/.work]")
    parser.add_argument("--keep", action="store_true", help="keep each run's cache and run directory")
    parser.add_argument("--quick", action="store_true", help="sizes 200, workers 1 and 2, budget 2m (a smoke run)")
    args = parser.parse_args()
    base = QUICK if args.quick else DEFAULTS
    sizes = args.sizes or base["sizes"]
    worker_counts = args.workers or base["workers"]
    budget = args.time_budget or base["time_budget"]
    seconds(budget)  # reject a bad duration before any work
    if any(n < 2 * CLASSES * 4 for n in sizes) or any(k < 0 for k in worker_counts):
        parser.error(f"--sizes must be at least {2 * CLASSES * 4} (automl's split needs a few per class) and "
                     "--workers non-negative")
    command = "python benchmarks/image_memory.py" + (" --quick" if args.quick else "")
    if args.sizes or not args.quick:
        command += " --sizes " + " ".join(map(str, sizes))
    if args.workers or not args.quick:
        command += " --workers " + " ".join(map(str, worker_counts))
    if args.time_budget or not args.quick:
        command += f" --time-budget {budget}"

    args.work_dir = args.work_dir.resolve()
    scratch = args.work_dir / "image_memory"
    rows: list[dict] = []
    folders = {}
    for images in sorted(set(sizes)):
        folders[images] = photo_folder(args.work_dir, images)
    for requested in sorted(set(sizes)):
        folder, images, disk = folders[requested]
        for workers in worker_counts:
            print(f"-- {images} images, --workers {workers} ...", flush=True)
            row = run(folder, images, workers, budget, scratch, args.keep)
            row["folder_bytes"] = disk
            rows.append(row)
            print(json.dumps({k: v for k, v in row.items() if k not in ("timeline_s_pss_rss_procs", "at_pss_peak")}),
                  flush=True)
            if row["returncode"] != 0:
                print(row.get("output_tail", ""), file=sys.stderr, flush=True)

    shared = {"time_budget": budget, "photo_long_side": LONG_SIDE, "classes": CLASSES,
              "machine_memory_gb": machine_memory_gb(), "sample_interval_s": 0.2}
    found = {}
    for workers in worker_counts:
        mine = [r for r in rows if r["workers"] == workers]
        key = peak_key(workers)
        found[key] = result(key, max(r["pss_gb"] for r in mine), command, unit="GB (summed PSS of the process tree)",
                            per_size={str(r["images"]): {k: r[k] for k in ("pss_gb", "rss_gb", "processes",
                                                                           "completed_trials", "seconds")}
                                      for r in mine},
                            runs=mine, **shared)
        trouble = problems(mine)
        if trouble:
            found[key].update(met=False, problems=trouble)
    if len({r["images"] for r in rows}) >= 2:
        smallest, largest = min(r["images"] for r in rows), max(r["images"] for r in rows)
        growth = {}
        for workers in worker_counts:
            small = next(r for r in rows if r["workers"] == workers and r["images"] == smallest)
            large = next(r for r in rows if r["workers"] == workers and r["images"] == largest)
            cache_gb = large["cache_bytes"] / 1e9
            growth[str(workers)] = {
                "growth_gb": round(large["pss_gb"] - small["pss_gb"], 4), "cache_gb": round(cache_gb, 4),
                "ratio": round((large["pss_gb"] - small["pss_gb"]) / cache_gb, 3) if cache_gb else None,
                "from_images": smallest, "to_images": largest}
        ratios = [g["ratio"] for g in growth.values() if g["ratio"] is not None]
        key = "image_memory_growth_vs_cache"
        found[key] = result(key, max(ratios) if ratios else None, command,
                            what="(peak PSS at the largest size - at the smallest) / uint8 cache size at the largest",
                            per_workers=growth, **shared)
        trouble = problems(rows)
        if trouble:
            found[key].update(met=False, problems=trouble)
    else:
        print("one size only: image_memory_growth_vs_cache needs two (--sizes A B)")

    path = store(found, quick=args.quick)
    print()
    print(f"{'images':>7} {'workers':>7} {'PSS GB':>7} {'RSS GB':>7} {'procs':>5} {'exit':>4} {'trials':>10} "
          f"{'seconds':>8} {'s/trial':>8} {'cache MB':>9}")
    for r in rows:
        trials = f"{r['completed_trials']}/{sum(r['trials'].values())}"
        per_trial = f"{r['seconds_per_completed_trial']:.1f}" if r["seconds_per_completed_trial"] else "-"
        print(f"{r['images']:>7} {r['workers']:>7} {r['pss_gb']:>7.3f} {r['rss_gb']:>7.3f} {r['processes']:>5} "
              f"{r['returncode']:>4} {trials:>10} {r['seconds']:>8.1f} {per_trial:>8} {r['cache_bytes'] / 1e6:>9.1f}")
    print()
    for key, value in found.items():
        met = {True: "met", False: "NOT met", None: "no goal"}[value["met"]]
        extra = f"  ({'; '.join(value['problems'])})" if value.get("problems") else ""
        print(f"{key}: {value['value']} (goal {value['goal']}: {met}){extra}")
        if key == "image_memory_growth_vs_cache":
            for workers, g in value["per_workers"].items():
                print(f"   --workers {workers}: peak PSS grew {g['growth_gb']:.3f} GB from {g['from_images']} to "
                      f"{g['to_images']} images; the {g['to_images']}-image cache is {g['cache_gb']:.3f} GB")
    print(f"stored in {path}")


if __name__ == "__main__":
    main()
