"""Files written and read safely (automl.io): atomic writes and folders, and named errors for unusable inputs."""

from __future__ import annotations

import os
import stat
import threading

import pytest

from automl.io import (
    atomic_directory,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    check_writable_folder,
    read_text_file,
    read_yaml_file,
    recover_directory,
    safe_name,
)


class Unusable(Exception):
    """The caller's named error class, as the readers of automl pass one."""


@pytest.fixture
def umask():
    """Set the process umask for one test and put the old one back."""
    old = os.umask(0o022)
    try:
        yield os.umask
    finally:
        os.umask(old)


def siblings(path):
    """Everything in ``path``'s folder but ``path`` itself: the temporaries an atomic write must not leave."""
    return sorted(p.name for p in path.parent.iterdir() if p != path)


# --- atomic files ----------------------------------------------------------------------------------------
def test_an_atomic_write_creates_its_folder_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a" / "b" / "notes.txt"
    atomic_write_text(path, "héllo\n")
    assert path.read_bytes() == "héllo\n".encode()
    assert siblings(path) == []
    atomic_write_json(path, {"b": 1, "a": [1.5, None]})  # replaces the text, sorted and indented
    assert path.read_text() == '{\n  "a": [\n    1.5,\n    null\n  ],\n  "b": 1\n}\n'
    assert siblings(path) == []


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)], ids=oct)
def test_an_atomic_write_gives_the_file_the_users_usual_mode(tmp_path, umask, mask, mode):
    """Not the 0600 of the temporary file it was written through: a file others may read stays readable."""
    umask(mask)
    path = tmp_path / "board.csv"
    atomic_write_text(path, "trial\n0\n")
    assert stat.S_IMODE(path.stat().st_mode) == mode
    path.chmod(0o600)
    atomic_write_bytes(path, b"rewritten")  # a rewrite takes the umask's mode again, like a new file
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_a_write_that_fails_midway_leaves_the_old_content_and_no_temporary(tmp_path):
    path = tmp_path / "config.txt"
    atomic_write_text(path, "old\n")
    with pytest.raises(TypeError):
        atomic_write_bytes(path, "not bytes")  # type: ignore[arg-type]  # the write itself raises
    assert path.read_text() == "old\n" and siblings(path) == []


def test_a_write_that_cannot_replace_its_target_leaves_it_and_no_temporary(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "inside").write_text("kept")
    with pytest.raises(IsADirectoryError):
        atomic_write_text(target, "new")  # the final rename fails: a folder is in the way
    assert (target / "inside").read_text() == "kept" and siblings(target) == []


def test_a_reader_sees_the_whole_old_file_or_the_whole_new_one_never_part(tmp_path):
    """A reader racing a writer of a large file: before the first write it finds no file, then always one
    complete version (a write in place would show it truncated or half-written)."""
    path = tmp_path / "leaderboard.bin"
    versions = [bytes([65 + i]) * 512 * 1024 for i in range(2)]
    done = threading.Event()
    seen: set[bytes] = set()

    def write() -> None:
        try:
            for n in range(30):
                atomic_write_bytes(path, versions[n % 2])
        finally:
            done.set()

    assert not path.exists()
    writer = threading.Thread(target=write)
    writer.start()
    reads = 0
    while not done.is_set() or reads == 0:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            assert not seen, "the file was gone between two writes"
            continue
        reads += 1
        assert data in versions, (len(data), data[:1], data[-1:])
        seen.add(data)
    writer.join()
    assert path.read_bytes() == versions[1] and siblings(path) == []


# --- atomic folders --------------------------------------------------------------------------------------
def test_an_atomic_directory_replaces_the_folder_whole_on_success(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "old_only.txt").write_text("old")
    with atomic_directory(folder) as new:
        assert new.parent == folder.parent and new != folder
        (new / "model.txt").write_text("new")
        assert (folder / "old_only.txt").is_file()  # untouched while the new one is filled
    assert sorted(p.name for p in folder.iterdir()) == ["model.txt"]
    assert siblings(folder) == []


def test_an_atomic_directory_whose_body_fails_leaves_the_old_folder_exactly(tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "model.txt").write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), atomic_directory(folder) as new:
        (new / "model.txt").write_text("half")
        raise RuntimeError("disk full")
    assert (folder / "model.txt").read_text() == "old" and sorted(os.listdir(folder)) == ["model.txt"]
    assert siblings(folder) == []


def test_recovery_puts_back_a_folder_a_crash_left_renamed_aside(tmp_path):
    """A crash between the swap's two renames: the folder is gone, its old version sits beside it; an
    unfinished new one is dropped."""
    folder = tmp_path / "export"
    old = tmp_path / ".export.old"
    old.mkdir()
    (old / "model.txt").write_text("old")
    (tmp_path / ".export.new-abc123").mkdir()
    recover_directory(folder)
    assert (folder / "model.txt").read_text() == "old" and siblings(folder) == []
    recover_directory(folder)  # nothing left to do: unchanged
    assert (folder / "model.txt").read_text() == "old" and siblings(folder) == []


# --- reading what the user named -------------------------------------------------------------------------
def test_unreadable_text_files_are_the_callers_error_saying_why(tmp_path):
    binary = tmp_path / "space.yaml"
    binary.write_bytes(b"ok\n\xff\xfe")
    with pytest.raises(Unusable, match=r"search space file '.*space\.yaml' is not a UTF-8 text file \(byte 3 is "
                                       r"b'\\xff'\)"):
        read_text_file(binary, "search space file", Unusable)
    with pytest.raises(Unusable, match="is a folder; pass the file itself"):
        read_text_file(tmp_path, "search space file", Unusable)
    with pytest.raises(Unusable, match="does not exist"):
        read_text_file(tmp_path / "missing.yaml", "search space file", Unusable)


def test_yaml_is_parsed_or_named_by_line_and_an_empty_file_is_none(tmp_path):
    path = tmp_path / "experiment.yaml"
    path.write_text("trials: 3\nseed: [1\n")
    with pytest.raises(Unusable, match=r"experiment file '.*experiment\.yaml' is not valid YAML at line 3"):
        read_yaml_file(path, "experiment file", Unusable)
    path.write_text("")
    assert read_yaml_file(path, "experiment file", Unusable) is None
    path.write_text("trials: 3\nseed: [1, 2]\n")
    assert read_yaml_file(path, "experiment file", Unusable) == {"trials": 3, "seed": [1, 2]}


def test_a_writable_folder_is_created_and_one_under_a_file_is_refused(tmp_path):
    check_writable_folder(tmp_path / "new" / "run", "output folder", Unusable)
    assert (tmp_path / "new" / "run").is_dir() and list((tmp_path / "new" / "run").iterdir()) == []
    (tmp_path / "a-file").write_text("")
    with pytest.raises(Unusable, match=r"cannot write output folder '.*a-file/run': .*; pass a folder you can "
                                       r"write to"):
        check_writable_folder(tmp_path / "a-file" / "run", "output folder", Unusable)


@pytest.mark.parametrize("name, safe", [("../x", "x"), ("trial 7/final", "trial_7_final"), ("...", "unnamed"),
                                        (".hidden", "hidden"), ("résumé.v2", "r_sum_.v2"), ("a" * 150, "a" * 100)])
def test_safe_names_have_no_separators_or_leading_dots(name, safe):
    assert safe_name(name) == safe
