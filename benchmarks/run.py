"""The benchmark harness: every measurement of issue 7, one command.

    python benchmarks/run.py            # the full run (about 3 hours on 2 CPU cores)
    python benchmarks/run.py --quick    # every script at smoke size (about 5 minutes); not a result
    python benchmarks/run.py --only search_quality trial_overhead
    python benchmarks/run.py --table    # only rewrite RESULTS.md's summary from results.json

Each script runs in its own process (one TensorFlow per measurement, nothing warm from the one before),
one after another (never side by side: they would share the CPU), and merges its keys into
``benchmarks/results.json`` (``results-quick.json`` with ``--quick``). A full run then rewrites the summary
table at the top of ``RESULTS.md`` from ``results.json``; the sections below it explain each figure.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

from common import ENV, GOALS, HERE, QUICK_RESULTS_FILE, RESULTS_FILE

# script → the keys it measures; the order is cheapest first, so a broken setup fails early.
SCRIPTS = {
    "engine_vs_plain_fit": ["engine_speedup_vs_plain_fit"],
    "trial_overhead": ["rss_mb_per_trial", "bookkeeping_share"],
    "workers_throughput": ["trials_per_hour_2_workers"],
    "keras_backend": ["keras_backend"],
    "search_quality": ["digits_test_accuracy_5min", "time_to_target_ratio"],
    "image_pipeline": ["image_decode_speedup", "image_cache_hit_share"],
    "image_resolution": ["image_seconds_per_epoch_by_size"],
    "image_memory": ["image_memory_peak_gb_1_worker", "image_memory_peak_gb_2_workers",
                     "image_memory_growth_vs_cache"],
    "photos_quality": ["photos_test_accuracy_margin"],
    "trade_off": ["trade_off_hypervolume_ratio"],
}
SUMMARY_START, SUMMARY_END = "<!-- summary:start -->", "<!-- summary:end -->"


def summary_table(results: dict) -> str:
    lines = ["| key | value | goal | met | date | command |", "|---|---|---|---|---|---|"]
    for keys in SCRIPTS.values():
        for key in keys:
            found = results.get(key)
            if found is None:
                lines.append(f"| `{key}` | not measured | {' '.join(map(str, GOALS.get(key, ('—',))))} | | | |")
                continue
            met = {True: "yes", False: "**no**", None: "—"}[found.get("met")]
            lines.append(f"| `{key}` | {found['value']} | {found.get('goal') or '—'} | {met} | {found['date']} | "
                         f"`{found['command']}` |")
    return "\n".join(lines)


def rewrite_summary(table: str) -> None:
    path = HERE / "RESULTS.md"
    text = path.read_text()
    start, end = text.index(SUMMARY_START) + len(SUMMARY_START), text.index(SUMMARY_END)
    partial = path.with_suffix(".md.partial")
    partial.write_text(text[:start] + "\n" + table + "\n" + text[end:])
    partial.replace(path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every script at smoke size (≤ 5 minutes)")
    parser.add_argument("--only", nargs="+", choices=list(SCRIPTS), help="run only these scripts")
    parser.add_argument("--table", action="store_true", help="run nothing; rewrite the summary from results.json")
    args = parser.parse_args()
    failed = []
    for name in [] if args.table else args.only or SCRIPTS:
        started = time.perf_counter()
        print(f"== {name} ({', '.join(SCRIPTS[name])})", flush=True)
        proc = subprocess.run([sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if args.quick else [])],
                              env=ENV, cwd=HERE)
        print(f"== {name}: exit {proc.returncode} after {time.perf_counter() - started:.0f} s", flush=True)
        if proc.returncode != 0:
            failed.append(name)
    path = QUICK_RESULTS_FILE if args.quick else RESULTS_FILE
    results = json.loads(path.read_text()) if path.exists() else {}
    table = summary_table(results)
    print(table)
    if not args.quick:
        rewrite_summary(table)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
