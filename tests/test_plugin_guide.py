"""Every code block of docs/plugins.md runs: files are written where they say, shell blocks run in that folder."""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from automl.run_dir import RunDirectory

tomllib = pytest.importorskip("tomllib")  # Python 3.11+: the guide's pyproject.toml is parsed

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"
BLOCK = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)
FILE_LINE = re.compile(r"^# file: (\S+)\n")


def guide_blocks() -> list[tuple[str, str]]:
    return BLOCK.findall(GUIDE.read_text())


def test_every_block_is_a_file_or_a_command():
    blocks = guide_blocks()
    assert len(blocks) >= 8
    for language, body in blocks:
        assert language == "bash" or FILE_LINE.match(body), (
            f"a ```{language} block of {GUIDE.name} neither names its file ('# file: NAME' first) nor is a shell "
            f"block, so no test runs it:\n{body}")


def test_the_guide_runs_from_start_to_end(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "AUTOML_PLUGINS_DIR")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"  # this venv's automl and pytest
    for language, body in guide_blocks():
        named = FILE_LINE.match(body)
        if named:
            path = tmp_path / named.group(1)
            path.write_text(body)
            if language == "yaml":
                yaml.safe_load(body)
            elif language == "toml":
                tomllib.loads(body)
            elif language == "python":
                compile(body, str(path), "exec")
            continue
        for command in (line for line in body.splitlines() if line.strip() and not line.startswith("#")):
            done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True, text=True,
                                  timeout=600)
            assert done.returncode == 0, f"$ {command}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"

    # What the commands left: the scaffolded package, the contract suites passed, and a search that used the
    # guide's plugins (its logger wrote a line per epoch).
    assert (tmp_path / "sepnet" / "src" / "automl_sepnet" / "__init__.py").is_file()
    with open(RunDirectory(tmp_path / "runs" / "guide").leaderboard_csv) as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 3 and {row["optimizer"] for row in rows} == {"adam_clip"}
    epochs = (tmp_path / "runs" / "guide" / "epochs.csv").read_text().splitlines()
    assert epochs[0] == "trial,epoch,val_accuracy" and len(epochs) > 3
    pyproject = tomllib.loads((tmp_path / "pyproject.toml").read_text())
    assert pyproject["project"]["entry-points"]["automl"] == {"sepnet": "automl_sepnet"}
