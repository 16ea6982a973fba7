"""Image folders shaped like users' photos: the decoded-pixel cache, EXIF orientation, the default size,
bad files, and searches whose workers share one cache.

Real JPEG/PNG files written into tmp_path (`automl.testing.photos` for photo-like folders), real Pillow,
real TensorFlow for the searches; every test points AUTOML_CACHE_DIR at a folder of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from automl.data import CachedImages, load_dataset, load_images
from automl.data.images import CPU_LONG_SIDE, Header, decode_image, default_image_size
from automl.errors import CorruptImageError, EmptyClassFolderError
from automl.progress import QuietProgress
from automl.run_dir import RunDirectory
from automl.testing.photos import write_photo_folder

AUTOML = [sys.executable, "-m", "automl.cli"]


@pytest.fixture(autouse=True)
def own_cache(tmp_path: Path, monkeypatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(cache))
    return cache


def half_bright(height: int, width: int) -> np.ndarray:
    """An RGB picture whose top half is white and bottom half black: its orientation is easy to check."""
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[: height // 2] = 255
    return pixels


def save_with_orientation(upright: np.ndarray, path: Path, orientation: int) -> None:
    """Store `upright` as a camera would: pixels turned, and the EXIF tag that turns them back."""
    image = Image.fromarray(upright)
    stored = {1: image, 3: image.transpose(Image.Transpose.ROTATE_180),
              6: image.transpose(Image.Transpose.ROTATE_90), 8: image.transpose(Image.Transpose.ROTATE_270)}[orientation]
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored.save(path, quality=95, exif=exif)


def two_class_folder(root: Path, per_class: int = 12, size: tuple[int, int] = (480, 640)) -> Path:
    rng = np.random.default_rng(0)
    for name, level in (("dark", 40), ("light", 200)):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = np.clip(rng.normal(level, 20, (*size, 3)), 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:03d}.jpg", quality=90)
    return root


def pixel_entries(cache: Path) -> list[Path]:
    return sorted(cache.glob("images/*/*/pixels.npy"))


# --- the cache ---------------------------------------------------------------------------------------------
def test_a_second_load_reuses_the_cache_without_decoding(tmp_path: Path, own_cache: Path, monkeypatch):
    root = two_class_folder(tmp_path / "photos")
    first = load_dataset(str(root), image_size=(32, 32))
    assert isinstance(first.x_train, CachedImages) and first.x_train.dtype == np.uint8
    [entry] = pixel_entries(own_cache)
    written = entry.stat().st_mtime_ns

    import automl.data.images as images

    def must_not_decode(*args, **kwargs):
        raise AssertionError("a cache hit decoded an image")

    for name in ("_decode_opened", "read_header", "read_and_decode"):
        monkeypatch.setattr(images, name, must_not_decode)
    second = load_dataset(str(root), image_size=(32, 32))
    assert second.fingerprint == first.fingerprint
    assert any("re-used" in note for note in second.notes)
    assert entry.stat().st_mtime_ns == written
    np.testing.assert_array_equal(np.asarray(second.x_train), np.asarray(first.x_train))


def test_a_changed_file_or_another_size_gets_a_new_entry(tmp_path: Path, own_cache: Path):
    root = two_class_folder(tmp_path / "photos")
    first = load_dataset(str(root), image_size=(32, 32))
    load_dataset(str(root), image_size=(16, 16))
    assert len(pixel_entries(own_cache)) == 2  # one per resolution, under one listing
    Image.fromarray(np.full((480, 640, 3), 255, np.uint8)).save(root / "dark" / "000.jpg")
    changed = load_dataset(str(root), image_size=(32, 32))
    assert changed.fingerprint != first.fingerprint
    assert len(pixel_entries(own_cache)) == 3


def test_the_cache_holds_uint8_at_the_target_size_and_the_splits_are_views(tmp_path: Path, own_cache: Path):
    root = two_class_folder(tmp_path / "photos", per_class=20)
    ds = load_dataset(str(root), image_size=(24, 32))
    [entry] = pixel_entries(own_cache)
    pixels = np.load(entry, mmap_mode="r")
    assert pixels.dtype == np.uint8 and pixels.shape == (40, 24, 32, 3)
    assert entry.stat().st_size < 40 * 24 * 32 * 3 + 4096  # header only beyond the pixels
    # Every split maps the same file; none holds a copy.
    for split in (ds.x_train, ds.x_val, ds.x_test):
        assert isinstance(split, CachedImages) and isinstance(split.pixels, np.memmap)
        assert Path(split.pixels.filename) == entry
    assert len(ds.x_train) + len(ds.x_val) + len(ds.x_test) == 40
    assert ds.x_train[:3].shape == (3, 24, 32, 3) and ds.x_train[0].shape == (24, 32, 3)


def test_an_interrupted_decode_leaves_no_entry_behind(tmp_path: Path, own_cache: Path, monkeypatch):
    root = two_class_folder(tmp_path / "photos")
    import automl.data.images as images

    real, calls = images._decode_opened, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(images, "_decode_opened", interrupted)
    with pytest.raises(KeyboardInterrupt):
        load_dataset(str(root), image_size=(32, 32))
    assert pixel_entries(own_cache) == []
    assert not list(own_cache.glob("images/*/.*partial*"))
    monkeypatch.setattr(images, "_decode_opened", real)
    assert len(load_dataset(str(root), image_size=(32, 32)).y_train) > 0


def test_a_process_reusing_an_entry_learns_its_unusable_files_from_it(tmp_path: Path, own_cache: Path):
    # Without stored headers a process that finds the entry already built (another search decoded it) checks
    # headers only, which pass a truncated JPEG: the entry itself must list the files that failed to decode.
    root = two_class_folder(tmp_path / "photos")
    truncated = root / "dark" / "003.jpg"
    truncated.write_bytes(truncated.read_bytes()[:2000])
    first = load_dataset(str(root), image_size=(32, 32), skip_corrupt=True)
    assert first.skipped == (str(truncated),)
    [headers] = own_cache.glob("images/*/headers.json")
    headers.unlink()
    again = load_dataset(str(root), image_size=(32, 32), skip_corrupt=True)
    assert any("re-used" in note for note in again.notes) or len(pixel_entries(own_cache)) == 1
    assert again.skipped == (str(truncated),) and again.fingerprint == first.fingerprint


@pytest.mark.parametrize("damage", ["truncated pixels", "lost meta", "killed decode"])
def test_a_broken_entry_is_rebuilt(tmp_path: Path, own_cache: Path, damage: str):
    root = two_class_folder(tmp_path / "photos")
    first = load_dataset(str(root), image_size=(32, 32))
    [entry] = pixel_entries(own_cache)
    if damage == "truncated pixels":
        entry.write_bytes(entry.read_bytes()[:1000])
    elif damage == "lost meta":
        (entry.parent / "meta.json").unlink()
    else:  # what a SIGKILL in the middle of a decode leaves: a partial entry, and no complete one
        partial = entry.parent.with_name(f".{entry.parent.name}.partial-dead0000")
        entry.parent.rename(partial)
    again = load_dataset(str(root), image_size=(32, 32))
    assert again.fingerprint == first.fingerprint
    assert [p.parent.name for p in pixel_entries(own_cache)] == ["32x32-rgb"]
    assert not list(own_cache.glob("images/*/.*partial*"))


def test_a_folder_reached_from_another_working_directory_shares_its_entry(tmp_path: Path, own_cache: Path,
                                                                          monkeypatch):
    root = two_class_folder(tmp_path / "photos")
    first = load_dataset(str(root), image_size=(32, 32))
    monkeypatch.chdir(root)
    again = load_dataset(".", image_size=(32, 32))
    assert any("re-used" in note for note in again.notes) and len(pixel_entries(own_cache)) == 1
    assert again.fingerprint == first.fingerprint


def test_a_symlink_loop_in_a_class_folder_is_listed_once(tmp_path: Path):
    root = two_class_folder(tmp_path / "photos", per_class=8)
    (root / "dark" / "again").symlink_to(root / "dark", target_is_directory=True)
    (root / "light" / "up").symlink_to(root, target_is_directory=True)
    (root / "light" / "dark_too").symlink_to(root / "dark", target_is_directory=True)
    ds = load_dataset(str(root), image_size=(16, 16))
    # Each file once, under its own class: no loop, and no other class's images reached through a link.
    assert np.bincount(np.concatenate([ds.y_train, ds.y_val, ds.y_test])).tolist() == [8, 8]


def test_an_unwritable_cache_is_a_named_error(tmp_path: Path, monkeypatch):
    from automl.errors import ImageCacheError

    root = two_class_folder(tmp_path / "photos")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    monkeypatch.setenv("AUTOML_CACHE_DIR", str(blocker))
    with pytest.raises(ImageCacheError, match="AUTOML_CACHE_DIR"):
        load_dataset(str(root), image_size=(32, 32))


def test_the_preflight_and_the_decode_report_progress(tmp_path: Path, monkeypatch):
    import io

    import automl.progress

    root = two_class_folder(tmp_path / "quick", per_class=10, size=(60, 80))
    stream = io.StringIO()
    load_dataset(str(root), progress=QuietProgress(stream))
    assert stream.getvalue() == ""  # 20 small images in well under a second: no lines
    monkeypatch.setattr(automl.progress, "QUIET_STAGE_ANNOUNCE_FILES", 24)  # as a large folder is reported
    root = two_class_folder(tmp_path / "photos")
    stream = io.StringIO()
    load_dataset(str(root), progress=QuietProgress(stream))  # the default size: headers first, then the decode
    text = stream.getvalue()
    assert "checking 24 images ..." in text and "decoding 24 images to 48x64 ..." in text
    assert "files/s" in text
    other = two_class_folder(tmp_path / "other")
    stream = io.StringIO()
    load_dataset(str(other), image_size=(32, 32), progress=QuietProgress(stream))  # a given size: one pass
    assert "checking and decoding 24 images to 32x32 ..." in stream.getvalue()


# --- EXIF orientation ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_exif_rotated_photos_come_out_upright_in_training_and_in_predict(tmp_path: Path, orientation: int):
    root = tmp_path / "photos"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(10):
            save_with_orientation(half_bright(480, 640), root / name / f"{i}.jpg", orientation if i % 2 else 1)
    ds = load_dataset(str(root), image_size=(24, 32))
    pixels = np.concatenate([np.asarray(ds.x_train), np.asarray(ds.x_val), np.asarray(ds.x_test)]).astype(float)
    assert pixels.shape[1:] == (24, 32, 3)
    # Every image, tagged or not, has its bright half on top.
    assert (pixels[:, :10].mean(axis=(1, 2, 3)) > 240).all() and (pixels[:, 14:].mean(axis=(1, 2, 3)) < 15).all()

    tagged = sorted(root.glob("a/[13579].jpg"))
    with Image.open(tagged[0]) as stored:
        assert stored.getexif()[0x0112] == orientation  # the file really is stored turned
    predicted = load_images(tagged, ds.preprocessing)
    assert (predicted[:, :10].mean(axis=(1, 2, 3)) > 240).all() and (predicted[:, 14:].mean(axis=(1, 2, 3)) < 15).all()
    # `automl predict` decodes exactly as training did.
    position = ds.test_inputs.index(str(ds.test_inputs[0]))
    np.testing.assert_array_equal(load_images([ds.test_inputs[position]], ds.preprocessing)[0],
                                  np.asarray(ds.x_test[position], dtype=np.float32))


def test_sideways_photos_count_as_their_upright_size_for_the_default(tmp_path: Path):
    root = tmp_path / "photos"
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(10):  # portrait pictures stored landscape with tag 6, as phones write them
            save_with_orientation(half_bright(640, 480), root / name / f"{i}.jpg", 6)
    ds = load_dataset(str(root))
    assert ds.input_shape == (CPU_LONG_SIDE, CPU_LONG_SIDE * 3 // 4, 3)


# --- the default size ---------------------------------------------------------------------------------------
def headers(*sizes: tuple[int, int]) -> list[Header]:
    return [Header(height=h, width=w, mode="RGB") for h, w in sizes]


def test_small_images_are_never_enlarged():
    size, how = default_image_size(headers(*[(8, 8)] * 5), gpu=False)
    assert size == (8, 8) and "never enlarged" in how


def test_photos_are_bounded_on_the_long_side_keeping_their_aspect():
    size, how = default_image_size(headers(*[(480, 640)] * 9, (427, 640)), gpu=False)
    assert size == (48, 64) and "64 px" in how and "480x640" in how
    assert default_image_size(headers(*[(480, 640)] * 9), gpu=True)[0] == (168, 224)


def test_mixed_orientations_give_a_square_default():
    size, how = default_image_size(headers(*[(480, 640)] * 7, *[(640, 480)] * 3), gpu=False)
    assert size == (64, 64) and "7 landscape and 3 portrait" in how


def test_the_chosen_size_is_stated(tmp_path: Path):
    root = two_class_folder(tmp_path / "photos")
    ds = load_dataset(str(root))
    assert ds.input_shape == (48, 64, 3)
    assert any("resized to 48x64" in note and "--image-size" in note for note in ds.notes)


# --- photo-like folders -------------------------------------------------------------------------------------
def test_a_photo_like_folder_with_odd_modes_and_junk_loads(tmp_path: Path):
    folder = write_photo_folder(tmp_path / "photos", per_class=6, odd_formats=True, junk=True, workers=1)
    ds = load_dataset(str(folder.root))
    n_files = len(folder.files)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == n_files  # junk skipped, every mode decoded
    assert ds.preprocessing["color_mode"] == "rgb" and ds.input_shape[-1] == 3
    assert max(ds.input_shape[:2]) == CPU_LONG_SIDE
    every = np.concatenate([np.asarray(ds.x_train), np.asarray(ds.x_val), np.asarray(ds.x_test)])
    assert every.reshape(len(every), -1).std(axis=1).min() > 5  # no blank (failed or unconverted) image


# --- bad files ----------------------------------------------------------------------------------------------
def write_bad_file(folder: Path, case: str) -> Path:
    if case == "huge":  # 12,000 x 12,000: 144 megapixels, compresses to a small PNG
        path = folder / "huge.png"
        Image.new("L", (12_000, 12_000), 128).save(path, optimize=False, compress_level=1)
    elif case == "empty":
        path = folder / "empty.jpg"
        path.write_bytes(b"")
    elif case == "text":
        path = folder / "notes.jpg"
        path.write_text("this is a text file, not a JPEG\n" * 20)
    elif case == "truncated":
        path = folder / "truncated.jpg"
        Image.fromarray(half_bright(480, 640)).save(path, quality=90)
        path.write_bytes(path.read_bytes()[:3000])
    else:
        raise ValueError(case)
    return path


@pytest.mark.parametrize("case, reason", [
    ("huge", "megapixel limit"),
    ("empty", "empty file"),
    ("text", "cannot identify image file"),
    ("truncated", "truncated"),
])
def test_a_bad_file_is_a_named_error_and_a_listed_skip(tmp_path: Path, case: str, reason: str):
    root = two_class_folder(tmp_path / "photos")
    bad = write_bad_file(root / "light", case)
    with pytest.raises(CorruptImageError) as err:
        load_dataset(str(root))
    message = str(err.value)
    assert f"'light/{bad.name}'" in message and reason in message and "--skip-corrupt" in message
    ds = load_dataset(str(root), skip_corrupt=True)
    assert ds.skipped == (str(bad),)
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 24
    assert ds.input_shape == (48, 64, 3)  # the huge image plays no part in the default size


def test_a_broken_exif_block_is_used_as_stored_and_named(tmp_path: Path):
    root = two_class_folder(tmp_path / "photos")
    path = root / "light" / "broken_exif.jpg"
    # An APP1 segment that claims to be EXIF but holds a garbage TIFF header.
    Image.fromarray(half_bright(480, 640)).save(path, quality=90, exif=b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xf0garbage")
    ds = load_dataset(str(root))
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 25 and not ds.skipped
    assert any("broken_exif.jpg" in note and "EXIF" in note for note in ds.notes)


def test_predict_names_an_oversized_file(tmp_path: Path):
    root = two_class_folder(tmp_path / "photos")
    ds = load_dataset(str(root))
    huge = write_bad_file(tmp_path, "huge")
    with pytest.raises(CorruptImageError, match="huge.png.*megapixel limit"):
        load_images([huge], ds.preprocessing)


def test_a_class_left_without_readable_images_is_named(tmp_path: Path):
    root = two_class_folder(tmp_path / "photos", per_class=4)
    (root / "broken").mkdir()
    for case in ("empty", "text"):
        write_bad_file(root / "broken", case)
    with pytest.raises(EmptyClassFolderError, match="'broken'"):
        load_dataset(str(root), skip_corrupt=True)


def test_decode_image_reduces_jpegs_while_decoding(tmp_path: Path):
    path = tmp_path / "photo.jpg"
    Image.fromarray(half_bright(3000, 4000)).save(path, quality=90)
    with Image.open(path) as img:
        img.draft(None, (64, 48))
        assert img.size == (500, 375)  # 1/8 of 4000x3000: the full-size pixels are never decoded
    assert decode_image(path, (48, 64), "rgb").shape == (48, 64, 3)


def test_a_multi_picture_jpeg_is_reduced_while_decoding_too(tmp_path: Path, monkeypatch):
    # Cameras and phones write MPO (a JPEG holding a second picture); Pillow opens it as format "MPO".
    path = tmp_path / "camera.jpg"
    first = Image.fromarray(half_bright(3000, 4000))
    first.save(path, "MPO", save_all=True, append_images=[Image.fromarray(half_bright(300, 400))], quality=90)
    with Image.open(path) as img:
        assert img.format == "MPO"
    import automl.data.images as images

    loaded = []
    real_to_mode = images._to_mode
    monkeypatch.setattr(images, "_to_mode", lambda img, mode: loaded.append(img.size) or real_to_mode(img, mode))
    assert decode_image(path, (48, 64), "rgb").shape == (48, 64, 3)
    assert loaded == [(500, 375)]  # decoded at 1/8, not 4000x3000


def test_checking_a_png_reads_its_header_only(tmp_path: Path):
    from automl.data.images import read_header

    path = tmp_path / "cut.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (400, 400, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:5000])  # pixels cut short: only a decode can tell
    header = read_header(path)
    assert (header.height, header.width, header.error, header.note) == (400, 400, "", "")
    with pytest.raises(OSError):
        decode_image(path, (32, 32), "rgb")


# --- searches -----------------------------------------------------------------------------------------------
TINY_SPACE = """
architectures:
  cnn: {blocks: 1, filters: 16, convs_per_block: 1, batch_norm: false, dense_units: 32}
augmentations: [none]
optimizers: [adam]
training: {batch_size: 16, max_epochs: 3, patience: 3}
"""


def worker_maps(root_pid: int) -> dict[int, set[str]]:
    """For each descendant of `root_pid`: the pixels.npy files it has mapped."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = {}, list(children.get(root_pid, []))
    while todo:
        pid = todo.pop()
        todo += children.get(pid, [])
        try:
            maps = Path(f"/proc/{pid}/maps").read_text()
        except OSError:
            continue
        found[pid] = {line.split(maxsplit=5)[-1] for line in maps.splitlines() if line.endswith("pixels.npy")}
    return found


def photo_search(tmp_path: Path, own_cache: Path, space: str, per_class: int, held_out_per_class: int):
    """Photo-like training and held-out folders, the space file, and `automl search`'s command line for them."""
    folder = write_photo_folder(tmp_path / "photos", per_class=per_class, workers=1)
    held_out = write_photo_folder(tmp_path / "held_out", per_class=held_out_per_class, seed=1, workers=1)
    (tmp_path / "space.yaml").write_text(space)
    run_dir = tmp_path / "run"
    command = [*AUTOML, "search", str(folder.root), "--space", str(tmp_path / "space.yaml"), "--trials", "2",
               "--out", str(run_dir), "--quiet", "--seed", "0"]
    return folder, held_out, run_dir, command, {**os.environ, "AUTOML_CACHE_DIR": str(own_cache)}


def test_two_workers_map_one_cache_and_predict_works_on_held_out_photos(tmp_path: Path, own_cache: Path):
    folder, held_out, run_dir, command, env = photo_search(tmp_path, own_cache, TINY_SPACE, 15, 2)
    search = subprocess.Popen([*command, "--workers", "2"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, env=env)
    mapped: dict[int, set[str]] = {}
    while search.poll() is None:
        for pid, files in worker_maps(search.pid).items():
            if files:
                mapped[pid] = files
        time.sleep(0.1)
    output = search.stdout.read()
    assert search.returncode == 0, output
    assert "resized to 64x64" in output and "decoded once into the image cache" in output
    [entry] = pixel_entries(own_cache)
    assert len(mapped) >= 2, f"worker processes seen mapping the cache: {mapped}\n{output}"
    assert all(files == {str(entry)} for files in mapped.values())

    config = RunDirectory(run_dir).config.read_text()
    assert "data_image_size:\n- 64\n- 64" in config
    card = json.loads((RunDirectory(run_dir).best / "model_card.json").read_text())
    assert card["preprocessing"]["image_size"] == [64, 64]
    predicted = subprocess.run([*AUTOML, "predict", str(run_dir), str(held_out.root)],
                               capture_output=True, text=True, env=env, timeout=300)
    assert predicted.returncode == 0, predicted.stderr
    import io

    import pandas as pd

    frame = pd.read_csv(io.StringIO(predicted.stdout))
    assert len(frame) == len(held_out.files)
    assert set(frame.iloc[:, 1]) <= set(folder.class_names)


def test_a_grayscale_folder_at_a_given_size_is_stored_as_one_channel(tmp_path: Path, own_cache: Path):
    root = tmp_path / "gray"
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        (root / name).mkdir(parents=True)
        for i in range(10):
            Image.fromarray(rng.integers(0, 255, (40, 50), dtype=np.uint8)).save(root / name / f"{i}.png")
    ds = load_dataset(str(root), image_size=(20, 25))  # one pass: decoded as RGB, then narrowed
    assert ds.preprocessing["color_mode"] == "grayscale" and ds.input_shape == (20, 25, 1)
    assert [p.parent.name for p in pixel_entries(own_cache)] == ["20x25-grayscale"]
    again = load_dataset(str(root), image_size=(20, 25))
    assert again.fingerprint == ds.fingerprint and any("re-used" in n for n in again.notes)
    np.testing.assert_array_equal(load_images(ds.test_inputs, ds.preprocessing),
                                  np.asarray(ds.x_test, dtype=np.float32))  # predict sees what training saw


MULTI_SIZE_SPACE = TINY_SPACE.replace("patience: 3}", "patience: 3, image_size: [16, 24]}") + """
initial_trials:
  - {architecture: cnn, augmentation: none, optimizer: adam, image_size: 16}
  - {architecture: cnn, augmentation: none, optimizer: adam, image_size: 24}
"""


def test_a_space_can_search_the_input_size_and_each_trial_keeps_its_own(tmp_path: Path, own_cache: Path):
    import io

    import pandas as pd

    _, held_out, run_dir, command, env = photo_search(tmp_path, own_cache, MULTI_SIZE_SPACE, 10, 1)
    search = subprocess.run([*command, "--image-size", "32x32"], capture_output=True, text=True, env=env,
                            timeout=600)
    assert search.returncode == 0, search.stdout + search.stderr
    assert "trials train at 16x16, 24x24" in search.stdout + search.stderr
    # The run's size and each listed size are decoded once, into entries every process maps.
    assert sorted(p.parent.name for p in pixel_entries(own_cache)) == ["16x16-rgb", "24x24-rgb", "32x32-rgb"]

    run = RunDirectory(run_dir)
    board = pd.read_csv(run.leaderboard_csv)
    assert sorted(board["training.image_size"]) == [16, 24]
    assert board["test_accuracy"].notna().all()  # each kept model was scored on the test split at its own size
    by_trial = dict(zip(board["trial"], board["training.image_size"]))
    best = int(board.iloc[0]["trial"])
    card = json.loads((run.best / "model_card.json").read_text())
    assert card["preprocessing"]["image_size"] == [by_trial[best]] * 2
    assert card["input"]["shape"][1:3] == [by_trial[best]] * 2

    other = next(t for t in by_trial if t != best)
    exported = subprocess.run([*AUTOML, "export", str(run_dir), "--trial", str(other), "--format", "keras"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert exported.returncode == 0, exported.stderr
    other_card = json.loads((run.exports / f"trial_{other:04d}" / "model_card.json").read_text())
    assert other_card["preprocessing"]["image_size"] == [by_trial[other]] * 2

    predicted = subprocess.run([*AUTOML, "predict", str(run_dir), str(held_out.root)],
                               capture_output=True, text=True, env=env, timeout=300)
    assert predicted.returncode == 0, predicted.stderr
    assert len(pd.read_csv(io.StringIO(predicted.stdout))) == len(held_out.files)
