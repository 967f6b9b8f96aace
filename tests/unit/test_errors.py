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
