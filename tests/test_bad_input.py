"""The bad-input catalogue: each item exits with code 2 and one short line on stderr, without a traceback,
overwrites nothing and leaves no run directory behind.

Dataset-specific items (empty folder, class folder without images, corrupt or non-image files, mask values,
image/mask mismatches, missing dataset root, pretrained weights offline) live with the datasets' own tests.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import vislab
from vislab.engine.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
TINY = {"train.epochs": 1, "train.progress": False, "data.limit": 64, "train.batch_size": 16}


def assert_bad_input(code: int, out: str, err: str, *phrases: str) -> str:
    """Exit code 2, nothing on stdout, one short line on stderr holding every phrase."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert out == "" and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("vislab: error: ") and len(lines[0]) < 400, lines[0]
    for phrase in phrases:
        assert phrase in lines[0]
    return lines[0]


def run_dirs(runs: Path) -> list[Path]:
    return [p for p in runs.glob("*/*") if p.is_dir()] if runs.is_dir() else []


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> vislab.Run:
    return vislab.train("digits", runs_dir=tmp_path_factory.mktemp("runs"), **TINY)


@pytest.fixture
def run_copy(finished_run: vislab.Run, tmp_path: Path) -> vislab.Run:
    """A private copy of a finished one-epoch run, to damage."""
    dest = tmp_path / "copy" / "digits" / finished_run.dir.name
    shutil.copytree(finished_run.dir, dest)
    return vislab.Run(dest)


# ------------------------------------------------------------------------------------------------
# config, recipe, model
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("args, phrases", [
    (["optim.lrr=0.1"], ["unknown config key 'optim.lrr'", "'optim.lr'"]),
    (["optim.lr=fast"], ["config key 'optim.lr'", "expected a float", "'fast'"]),
    (["train.epochs=[1, 2]"], ["config key 'train.epochs'", "expected an int", "[1, 2]"]),
    (["model.name=cnn-mnst"], ["unknown model model.name='cnn-mnst'", "cnn-mnist"]),
    (["data.name=digitz"], ["unknown dataset data.name='digitz'", "digits"]),
])
def test_config_mistakes(main, tmp_path: Path, args: list[str], phrases: list[str]):
    code, out, err = main("train", "digits", *args)
    assert_bad_input(code, out, err, *phrases)
    assert run_dirs(tmp_path / "runs") == []


@pytest.mark.parametrize("dataset", ["folder", "pairs"])
def test_a_user_dataset_without_a_root_folder(main, tmp_path: Path, dataset: str):
    code, out, err = main("train", "digits", f"data.name={dataset}")
    assert_bad_input(code, out, err, f"data.name={dataset} needs data.root=PATH")
    (tmp_path / "a_file").write_text("not a folder")
    code, out, err = main("train", "digits", f"data.name={dataset}", f"data.root={tmp_path / 'a_file'}")
    assert_bad_input(code, out, err, f"data.root={tmp_path / 'a_file'} is not a folder")
    assert run_dirs(tmp_path / "runs") == []


def test_unknown_recipe_lists_the_recipes(main, tmp_path: Path):
    code, out, err = main("train", "digitz")
    assert_bad_input(code, out, err, "unknown recipe 'digitz'", "did you mean digits", "`vislab recipes` lists all")
    code, out, err = main("train", "zzzz")
    assert_bad_input(code, out, err, "unknown recipe 'zzzz': `vislab recipes` lists all", "or give a path to a YAML file")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------------
# resuming
# ------------------------------------------------------------------------------------------------


def test_resuming_a_directory_that_does_not_exist(main, tmp_path: Path):
    code, out, err = main("train", "--resume", tmp_path / "nowhere")
    assert_bad_input(code, out, err, f"run directory {tmp_path / 'nowhere'} does not exist")
    assert not (tmp_path / "nowhere").exists()


def test_resuming_a_directory_that_is_not_a_run(main, tmp_path: Path):
    (tmp_path / "photos").mkdir()
    code, out, err = main("train", "--resume", tmp_path / "photos")
    assert_bad_input(code, out, err, f"{tmp_path / 'photos'} is not a run directory (it has no config.yaml)")
    assert list((tmp_path / "photos").iterdir()) == []


def test_resuming_a_run_without_checkpoint(main, run_copy: vislab.Run):
    for p in run_copy.dir.glob("checkpoints/*.pt"):
        p.unlink()
    before = snapshot(run_copy.dir)
    code, out, err = main("train", "--resume", run_copy.dir, "train.epochs=2")
    assert_bad_input(code, out, err, f"{run_copy.dir} holds no checkpoint to resume (checkpoints/last.pt is missing)")
    assert snapshot(run_copy.dir) == before


def test_resuming_with_a_setting_that_cannot_change(main, run_copy: vislab.Run):
    """The rate (or anything else beyond length, patience, progress, checkpoints, workers and evaluation)
    would half-apply: the optimizer state keeps the old one. Nothing is rewritten."""
    before = snapshot(run_copy.dir)
    code, out, err = main("train", "--resume", run_copy.dir, "optim.lr=0.5", "train.epochs=2")
    assert_bad_input(code, out, err, "optim.lr cannot change on resume", "trained with 0.003, now 0.5 on the command line",
                     "Start a new run")
    assert snapshot(run_copy.dir) == before


def test_resuming_after_editing_the_split_in_config_yaml(main, run_copy: vislab.Run):
    """Another split_seed would move validation images into training."""
    run_copy.config_path.write_text(run_copy.config_path.read_text().replace("split_seed: 0", "split_seed: 7"))
    before = snapshot(run_copy.dir)
    code, out, err = main("train", "--resume", run_copy.dir, "train.epochs=2")
    assert_bad_input(code, out, err, "data.split_seed cannot change on resume",
                     f"trained with 0, now 7 in {run_copy.config_path}")
    assert snapshot(run_copy.dir) == before


def foreign_checkpoint(run: vislab.Run, model: torch.nn.Module, name: str) -> None:
    """Replace the run's checkpoints with one holding ``model``'s weights, as another run would have left it."""
    state = load_checkpoint(run.checkpoint_path("last"))
    state.pop("format")
    state["model"] = model.state_dict()
    state["config"]["model"]["name"] = name
    for which in ("last", "best"):
        save_checkpoint(run.checkpoint_path(which), state)


@pytest.mark.parametrize("verb", ["resume", "eval"])
def test_a_checkpoint_of_another_class_count_names_the_mismatch(main, run_copy: vislab.Run, verb: str):
    from vislab.models.cnn import MnistCNN

    foreign_checkpoint(run_copy, MnistCNN(1, 12, (8, 8)), "cnn-mnist")
    before = snapshot(run_copy.dir)
    args = ("train", "--resume", run_copy.dir, "train.epochs=2") if verb == "resume" else ("eval", run_copy.dir)
    code, out, err = main(*args)
    assert_bad_input(code, out, err, "does not fit this model: classifier.weight is [12, 128] there, [10, 128] here")
    assert snapshot(run_copy.dir) == before


def test_a_checkpoint_of_another_architecture_names_the_mismatch(main, run_copy: vislab.Run):
    import torchvision

    foreign_checkpoint(run_copy, torchvision.models.resnet18(num_classes=10), "resnet18")
    before = snapshot(run_copy.dir)
    code, out, err = main("eval", run_copy.dir, "--checkpoint", "last")
    assert_bad_input(
        code, out, err, f"checkpoint {run_copy.checkpoint_path('last')} (a resnet18) does not fit this model",
        "missing features.0.weight, features.0.bias, features.2.weight and ", "unexpected conv1.weight, bn1.weight",
    )
    code, out, err = main("train", "--resume", run_copy.dir, "train.epochs=2")  # its config says so first
    assert_bad_input(code, out, err, "model.name cannot change on resume: trained with 'resnet18', now 'cnn-mnist'")
    assert snapshot(run_copy.dir) == before


# ------------------------------------------------------------------------------------------------
# the runs directory
# ------------------------------------------------------------------------------------------------


def test_a_runs_directory_under_a_file(main, tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not a folder")
    code, out, err = main("train", "--runs-dir", tmp_path / "notes.txt" / "runs", "digits")
    assert_bad_input(code, out, err, f"cannot use runs directory {tmp_path / 'notes.txt' / 'runs'}: Not a directory")
    assert (tmp_path / "notes.txt").read_text() == "not a folder"


def test_a_runs_directory_without_permission(main, tmp_path: Path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if os.access(locked, os.W_OK):
        pytest.skip("running as root: permissions do not stop writes here")
    code, out, err = main("train", "--runs-dir", locked / "runs", "digits")
    assert_bad_input(code, out, err, f"cannot use runs directory {locked / 'runs'}: Permission denied")
    assert list(locked.iterdir()) == []


def test_a_full_disk_is_bad_input_and_leaves_no_run_behind(tmp_path: Path):
    """The kernel refuses writes past 200 kB (RLIMIT_FSIZE): the first checkpoint cannot be written."""
    runs = tmp_path / "runs"
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    limit = 200_000
    proc = subprocess.run(
        [sys.executable, "-m", "vislab", "train", "--runs-dir", str(runs), "digits",
         *(f"{k}={v}" for k, v in TINY.items())],
        capture_output=True, text=True, env=env, timeout=300,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit)),
    )
    # A full disk shows only once the run writes: the run directory was made and announced, then removed.
    announced, error = proc.stderr.split("\n", 1)
    assert announced.startswith(f"vislab: run directory {runs / 'digits'}")
    line = assert_bad_input(proc.returncode, proc.stdout, error, "File too large", "free space or choose another --runs-dir")
    assert f"cannot write {runs / 'digits'}" in line and "checkpoints" in line
    assert run_dirs(runs) == []


def test_a_disk_that_fills_up_mid_run_leaves_a_summary_no_further_than_the_checkpoint(tmp_path: Path):
    """A real small disk (a 2 MB tmpfs in a private mount namespace): epoch 1's two checkpoints fit, epoch 2's
    do not. summary.json, metrics.csv and last.pt then all say one epoch."""
    if shutil.which("unshare") is None:
        pytest.skip("unshare is not installed")
    runs = tmp_path / "runs"
    runs.mkdir()
    script = 'mount -t tmpfs -o size=2000k tmpfs "$0" && exec "$@"'
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", script, str(runs), sys.executable, "-c",
         "import shutil, sys\nfrom vislab.cli import main\ncode = main(sys.argv[1:])\n"
         "shutil.copytree(sys.argv[3], sys.argv[3] + '-kept')\nraise SystemExit(code)",  # the tmpfs goes with the namespace
         "train", "--runs-dir", str(runs), "digits", "train.epochs=3", "train.progress=false", "data.limit=64",
         "train.batch_size=16"],
        capture_output=True, text=True, env=env, timeout=300,
    )
    if proc.returncode != 2 and "mount" in proc.stderr and "vislab" not in proc.stderr:
        pytest.skip(f"no tmpfs mount here: {proc.stderr.strip()}")
    announced, error = proc.stderr.split("\n", 1)
    assert announced.startswith(f"vislab: run directory {runs / 'digits'}")
    assert_bad_input(proc.returncode, proc.stdout, error, "No space left on device", "free space or choose another --runs-dir")
    run = vislab.Run(next((tmp_path / "runs-kept").glob("digits/*")))
    checkpoint = load_checkpoint(run.checkpoint_path("last"))
    assert checkpoint["state"]["epoch"] == 1
    assert [row["epoch"] for row in run.history] == [1]
    summary = run.summary
    assert summary["status"] == "failed" and summary["epochs_completed"] == 1 and "No space left" in summary["error"]


@pytest.mark.cuda
def test_out_of_gpu_memory_names_a_batch_size_to_try(tmp_path: Path):
    """The allocator is capped at 16 MB: model and data fit, a batch of 1024 digits' activations do not."""
    code = (
        "import sys, torch\n"
        "torch.cuda.set_per_process_memory_fraction(16e6 / torch.cuda.get_device_properties(0).total_memory)\n"
        "from vislab.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, "train", "--runs-dir", str(tmp_path / "runs"), "digits",
         "train.accelerator=cuda", "train.batch_size=1024", "train.epochs=1", "train.progress=false"],
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT / "src")}, timeout=300,
    )
    assert_bad_input(proc.returncode, proc.stdout, proc.stderr,
                     "out of GPU memory with train.batch_size=1024; try train.batch_size=512")
    assert run_dirs(tmp_path / "runs") == []


# ------------------------------------------------------------------------------------------------
# every key means something: a key the chosen model does not read
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model, key", [
    ("unet", "model.freeze=[encoder]"),
    ("unet", "model.weights=unet.pt"),
    ("unet", "model.pretrained=true"),
    ("deeplabv3_resnet50", "model.freeze=[backbone]"),
    ("deeplabv3_resnet50", "model.dropout=0.3"),
    ("smp/Unet:resnet18", "model.freeze=[encoder]"),
    ("smp/Unet:resnet18", "model.dropout=0.3"),
    ("panoptic_deeplab", "model.freeze=[backbone]"),
    ("panoptic_deeplab", "model.dropout=0.3"),
    ("resnet18", "model.depth=3"),
])
def test_a_model_key_the_model_does_not_read(main, tmp_path: Path, model: str, key: str):
    recipe = tmp_path / "seg.yaml"
    task = "task: {name: panoptic}\n" if model == "panoptic_deeplab" else ""  # its heads train only there
    recipe.write_text("data: {name: shapes, num_samples: 8}\n" + task)
    code, out, err = main("train", recipe, f"model.name={model}", key)
    name = key.split("=")[0]
    assert_bad_input(code, out, err, f"config key {name} does nothing for model.name={model}", f"set {name}=")
    assert run_dirs(tmp_path / "runs") == []


def test_every_packaged_recipe_sets_only_keys_its_dataset_and_model_read():
    from vislab import config, data, models
    from vislab.reads import unread

    for name in config.recipe_names():
        cfg = config.resolve(name)
        assert unread(cfg.model, models.COMMON + models.family_of(cfg.model.name).reads) == [], name
        assert unread(cfg.data, data.COMMON + data.DATASETS[cfg.data.name].reads) == [], name


@pytest.mark.parametrize("dataset, key", [
    ("digits", "data.root=/tmp"),  # embedded: nothing to read from disk
    ("shapes", "data.channels=1"),
    ("voc", "data.val_fraction=0.3"),  # VOC has its own val split
    ("mnist", "data.test_fraction=0.1"),  # ... and MNIST its own test split
    ("digits", "data.image_set=train_aug"),
])
def test_a_data_key_the_dataset_does_not_read(main, tmp_path: Path, dataset: str, key: str):
    recipe = tmp_path / "plain.yaml"
    recipe.write_text(f"data: {{name: {dataset}}}\n")
    code, out, err = main("train", recipe, key)
    name = key.split("=")[0]
    assert_bad_input(code, out, err, f"config key {name} does nothing for data.name={dataset}", f"set {name}=")
    assert run_dirs(tmp_path / "runs") == []


@pytest.mark.parametrize("recipe, key, task", [
    ("digits", "loss.aux_weight=0.4", "classification"),
    ("digits", "eval.sliding_window=64", "classification"),
    ("digits", "loss.domain_weight=0.5", "classification"),
    ("shapes-unet", "loss.center_weight=100", "segmentation"),
])
def test_a_loss_or_eval_key_the_task_does_not_read(main, tmp_path: Path, recipe: str, key: str, task: str):
    code, out, err = main("train", recipe, "data.limit=16", key)
    name = key.split("=")[0]
    assert_bad_input(code, out, err, f"config key {name} does nothing for {task} training", f"set {name}=")
    assert run_dirs(tmp_path / "runs") == []


# ------------------------------------------------------------------------------------------------
# sweeps
# ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("values, phrase", [
    ("optim.lr=1e-3,0.001", "optim.lr lists 0.001 twice"),
    ("optim.name=adam,sgd,adam", "optim.name lists adam twice"),
])
def test_a_grid_value_given_twice(main, tmp_path: Path, values: str, phrase: str):
    """Equal after parsing, they are one grid point: a sweep of both would wait forever for the second."""
    code, out, err = main("sweep", "digits", values)
    assert_bad_input(code, out, err, phrase, "give each value once")
    assert not (tmp_path / "runs").exists()


# ------------------------------------------------------------------------------------------------
# outputs: --out
# ------------------------------------------------------------------------------------------------


def test_augment_out_without_png_extension(main, tmp_path: Path):
    code, out, err = main("augment", "digits", "--out", tmp_path / "grid")
    assert_bad_input(code, out, err, f"--out {tmp_path / 'grid'}", "give a name ending in .png")
    assert list(tmp_path.iterdir()) == []


def test_augment_out_an_existing_folder(main, tmp_path: Path):
    (tmp_path / "pictures").mkdir()
    code, out, err = main("augment", "digits", "--out", tmp_path / "pictures")
    assert_bad_input(code, out, err, f"--out {tmp_path / 'pictures'} is a folder", "this writes a .png file", "pictures/augment.png")
    assert list((tmp_path / "pictures").iterdir()) == []


def test_predict_out_an_existing_folder_for_a_csv(main, finished_run: vislab.Run, tmp_path: Path):
    from PIL import Image

    (tmp_path / "photos").mkdir()
    Image.new("L", (8, 8), 40).save(tmp_path / "photos" / "a.png")
    (tmp_path / "results").mkdir()
    code, out, err = main("predict", finished_run.dir, tmp_path / "photos", "--out", tmp_path / "results")
    assert_bad_input(code, out, err, f"--out {tmp_path / 'results'} is a folder", "this writes a .csv file", "results/predictions.csv")
    assert list((tmp_path / "results").iterdir()) == []


def test_predict_on_a_run_directory(main, finished_run: vislab.Run, run_copy: vislab.Run):
    """Another run's directory holds PNGs (artifacts, predictions): they are not the user's images."""
    before = snapshot(run_copy.dir)
    code, out, err = main("predict", finished_run.dir, run_copy.dir)
    assert_bad_input(code, out, err, f"{run_copy.dir} is a run directory", "give image files or folders of images")
    assert snapshot(run_copy.dir) == before


# ------------------------------------------------------------------------------------------------
# data
# ------------------------------------------------------------------------------------------------


def test_a_folder_dataset_with_one_class(main, tmp_path: Path):
    from formats import write_folder

    write_folder(tmp_path / "one", {"cat": 6})
    code, out, err = main("train", "digits", "data.name=folder", f"data.root={tmp_path / 'one'}")
    assert_bad_input(code, out, err, f"{tmp_path / 'one'} holds one class (cat)", "at least two class folders")
    assert run_dirs(tmp_path / "runs") == []


@pytest.mark.parametrize("url, phrase", [
    ("postgresql+pg8000://me@db-host/vislab", "its database driver is not installed; "),
    ("nosuchdb://me@db-host/vislab", "is not a database URL SQLAlchemy knows"),
])
def test_a_storage_url_without_its_driver(main, tmp_path: Path, url: str, phrase: str):
    code, out, err = main("sweep", "digits", "optim.lr=1e-3,1e-2", "--storage", url)
    assert_bad_input(code, out, err, f"--storage {url}", phrase)
    assert not (tmp_path / "runs").exists()


def test_a_runs_directory_that_is_a_file(main, tmp_path: Path):
    (tmp_path / "notes.txt").write_text("not a folder")
    code, out, err = main("train", "--runs-dir", tmp_path / "notes.txt", "digits")
    assert_bad_input(code, out, err, f"cannot use runs directory {tmp_path / 'notes.txt'}: it is a file, not a folder")
    assert (tmp_path / "notes.txt").read_text() == "not a folder"
