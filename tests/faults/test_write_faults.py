"""A full disk, a read-only folder, a vanished folder at each write site (issue 15): one error
naming the file and the cause, the previous file intact, no temporary file left; the cache
only warns, once; training resumes to the same weights once space is back."""

from __future__ import annotations

import errno
import warnings
from pathlib import Path

import pytest
import torch
from training_toys import ToyDetector, ToySet, toy_config

from faults import ENOENT, ENOSPC, EROFS, fail_create, fail_fsync
from mammorcnn import atomic
from mammorcnn.atomic import atomic_write_bytes, ensure_folder
from mammorcnn.engine.training.runlog import RunLog
from mammorcnn.engine.training.trainer import Trainer
from mammorcnn.errors import MammoError, OutputError

CAUSES = {
    ENOSPC: "no space left on device: the disk is full, ENOSPC",
    EROFS: "read-only file system, EROFS",
    ENOENT: "its folder does not exist (removed while running?), ENOENT",
}


@pytest.mark.parametrize(
    ("inject", "code"),
    [(fail_fsync, ENOSPC), (fail_create, EROFS), (fail_create, ENOENT), (fail_fsync, errno.EIO)],
)
def test_atomic_writer_names_file_and_cause_and_keeps_old(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inject,
    code: int,  # noqa: ANN001
) -> None:
    path = tmp_path / "report.json"
    atomic_write_bytes(path, b"old")
    assert inject(monkeypatch, "report.json", code) == []
    with pytest.raises(OutputError) as caught:
        atomic_write_bytes(path, b"new")
    error = caught.value
    assert isinstance(error, MammoError) and isinstance(error, OSError)  # one line, exit 2
    assert error.errno == code and error.filename == str(path)
    cause = CAUSES.get(code, "input/output error (a failing disk or a lost network mount), EIO")
    assert str(error) == f"{path}: cannot write ({cause})"
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]  # temporary file removed


def test_folder_that_cannot_be_made_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="file/sub: cannot write .a file stands where"):
        ensure_folder(tmp_path / "file" / "sub")

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(atomic.Path, "mkdir", read_only)
    with pytest.raises(OutputError, match=r"new/x.png: cannot write \(read-only file system"):
        atomic_write_bytes(tmp_path / "new" / "x.png", b"png")


def test_cache_that_cannot_be_written_warns_once_and_the_work_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, phantoms: Path
) -> None:
    from mammorcnn.data import CocoMammoDataset, DataConfig
    from mammorcnn.data.preprocess.config import PreprocessConfig

    config = DataConfig(preprocess=PreprocessConfig(image_size=64), cache_dir=str(tmp_path))
    dataset = CocoMammoDataset(phantoms, config, train=False)
    hit = fail_create(monkeypatch, "*.npz", EROFS)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        images = [dataset[i][0] for i in range(len(dataset))]
    assert len(images) == 4 and all(image.shape == (1, 64, 64) for image in images)
    messages = [str(w.message) for w in caught if "cache" in str(w.message)]
    assert len(messages) == 1, messages
    assert "read-only file system" in messages[0] and "continuing without caching" in messages[0]
    assert len(hit) == 1 and dataset.cache.write_failed  # later images did not even try
    assert not list(tmp_path.rglob("*.npz"))


def test_run_log_and_tensorboard_faults_name_their_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = RunLog(tmp_path, enabled=True, tensorboard=True, resume_step=None)
    log.record("train", 1, 0, {"loss": 1.0})
    real_open = Path.open

    def full_open(self: Path, mode: str = "r", *args: object, **kwargs: object):  # noqa: ANN202
        if self.name == "train_log.jsonl" and "a" in mode:
            raise OSError(ENOSPC, "No space left on device", str(self))
        return real_open(self, mode, *args, **kwargs)

    monkeypatch.setattr(Path, "open", full_open)
    with pytest.raises(OutputError, match=r"train_log.jsonl: cannot write \(no space left"):
        log.record("train", 2, 0, {"loss": 1.0})
    monkeypatch.undo()

    def full_scalar(*args: object, **kwargs: object) -> None:
        raise OSError(ENOSPC, "No space left on device")

    monkeypatch.setattr(log.writer, "add_scalar", full_scalar)
    with pytest.raises(OutputError, match=r"tensorboard: cannot write \(no space left"):
        log.record("train", 3, 0, {"loss": 1.0})
    monkeypatch.setattr(log.writer, "close", full_scalar)
    log.close(quiet=True)  # another error is on its way: only a warning
    assert log.writer is None


def _train(run_dir: Path, resume: bool = False) -> Trainer:
    torch.manual_seed(0)
    config = toy_config(epochs=3, checkpoint_every_steps=2, keep_last=3)
    trainer = Trainer(ToyDetector(), ToySet(6), config, run_dir)
    trainer.fit(resume=resume)
    return trainer


@pytest.mark.parametrize(("name", "code"), [("step-00000004.state.pt", ENOSPC),
                                            ("step-00000006.safetensors", EROFS),
                                            ("train_log.jsonl", EROFS)])  # fmt: skip
def test_training_stops_on_a_refused_write_and_resumes_to_the_same_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, code: int
) -> None:
    run = tmp_path / "run"
    ckpts = run / "checkpoints"
    if name == "train_log.jsonl":  # rewritten atomically on resume, appended to while training
        real_open = Path.open
        calls = []

        def refusing(self: Path, mode: str = "r", *args: object, **kw: object):  # noqa: ANN202
            if self.name == name and "a" in mode:
                calls.append(1)
                if len(calls) == 5:
                    raise OSError(code, "Read-only file system", str(self))
            return real_open(self, mode, *args, **kw)

        monkeypatch.setattr(Path, "open", refusing)
    else:
        fail_fsync(monkeypatch, name, code)
    with pytest.raises(OutputError) as caught:
        _train(run)
    monkeypatch.undo()  # space is back
    message = str(caught.value)
    assert f"{name}: cannot write ({CAUSES[code]})" in message
    assert "the last complete checkpoint is" in message
    assert f"mammorcnn train --resume {run}" in message
    assert not list(ckpts.glob(".*.tmp"))
    last_good = message.split("the last complete checkpoint is ")[1].split(";")[0]
    assert Path(last_good).is_file()
    resumed = _train(run, resume=True)
    reference = _train(tmp_path / "ref")
    assert resumed.step == reference.step == 9
    for key, value in reference.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[key], value), key
