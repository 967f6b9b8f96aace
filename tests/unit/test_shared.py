"""The shared modules every package uses: errors and atomic writes."""

import pickle

from mammorcnn.errors import ImageReadError, InputError, MammoError


def test_input_error_names_file_and_problem():
    error = ImageReadError("scan.dcm", "no pixel data")
    assert str(error) == "scan.dcm: no pixel data"
    assert isinstance(error, InputError) and isinstance(error, MammoError)


def test_input_error_survives_pickling_across_dataloader_workers():
    error = pickle.loads(pickle.dumps(ImageReadError("a/b.png", "RGB image")))
    assert type(error) is ImageReadError
    assert (error.path, error.problem, str(error)) == ("a/b.png", "RGB image", "a/b.png: RGB image")


def test_atomic_writes_get_the_usual_permissions(tmp_path):
    import os
    import stat

    from mammorcnn.atomic import FILE_MODE, atomic_write_bytes

    mask = os.umask(0)
    os.umask(mask)
    path = tmp_path / "out.json"
    atomic_write_bytes(path, b"{}")
    assert stat.S_IMODE(path.stat().st_mode) == FILE_MODE == 0o666 & ~mask  # not mkstemp's 0600
    assert path.read_bytes() == b"{}" and [p.name for p in tmp_path.iterdir()] == ["out.json"]
