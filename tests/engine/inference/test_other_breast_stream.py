"""predict's pairing of films for a two-channel model: each film goes on with its partner's
preprocessed film as the second channel, or an empty one when no partner can be known."""

from __future__ import annotations

import numpy as np

from mammorcnn.data.preprocess import PreprocessRecord
from mammorcnn.engine.inference.other_breast_stream import OtherBreastPairing, WaitingImage
from mammorcnn.engine.inference.predictor import PreparedImage, model_input


def _film(image_id: int, side: str | None, study: str | None = "1.2.3", view: str = "MLO", **meta):
    record = PreprocessRecord(
        original_shape=(8, 8), crop_box=(0, 0, 8, 8), flipped=side == "R",
        orientation_source="ImageLaterality", laterality=side, resized_shape=(8, 8),
        pad=(0, 0), image_size=8, intensity_range=(0.0, 1.0),
    )  # fmt: skip
    meta = {"view": view} | ({"StudyInstanceUID": study} if study else {}) | meta
    pixels = np.full((8, 8), image_id / 10, np.float32)  # each film recognisable by its value
    return WaitingImage(image_id, f"im{image_id}", PreparedImage(pixels, record, meta))


def _channels(released: list[WaitingImage]) -> dict[int, tuple[float, float]]:
    """image id -> (film value, partner value) of each released input."""
    out = {}
    for image in released:
        assert image.item.image.shape == (2, 8, 8)
        first, second = image.item.image
        assert np.ptp(first) == 0 and np.ptp(second) == 0
        out[image.image_id] = (round(float(first[0, 0]), 3), round(float(second[0, 0]), 3))
    return out


def test_a_studys_two_breasts_read_each_other():
    pairing = OtherBreastPairing()
    assert pairing.add(_film(1, "L")) == []  # held until its partner comes
    released = pairing.add(_film(2, "R"))
    assert _channels(released) == {1: (0.1, 0.2), 2: (0.2, 0.1)}
    assert pairing.unpaired == 0 and pairing.flush() == []


def test_views_pair_separately_and_a_new_study_releases_what_waits():
    pairing = OtherBreastPairing()
    assert pairing.add(_film(1, "L", view="CC")) == []
    assert pairing.add(_film(2, "R", view="MLO")) == []  # not the CC's partner
    assert _channels(pairing.add(_film(3, "R", view="CC"))) == {1: (0.1, 0.3), 3: (0.3, 0.1)}
    released = pairing.add(_film(4, "L", study="9.9"))  # another study: image 2 goes alone
    assert _channels(released) == {2: (0.2, 0.0)}
    assert _channels(pairing.flush()) == {4: (0.4, 0.0)}
    assert pairing.unpaired == 2


def test_no_study_no_side_or_two_of_one_side_read_alone():
    pairing = OtherBreastPairing()
    assert _channels(pairing.add(_film(1, "L", study=None))) == {1: (0.1, 0.0)}  # a PNG
    assert _channels(pairing.add(_film(2, None))) == {2: (0.2, 0.0)}  # side unknown
    assert pairing.add(_film(3, "L")) == []
    # a second left MLO: which is the right one's partner is unknown, so none pairs
    assert _channels(pairing.add(_film(4, "L"))) == {3: (0.3, 0.0), 4: (0.4, 0.0)}
    assert _channels(pairing.add(_film(5, "R"))) == {5: (0.5, 0.0)}
    assert pairing.unpaired == 5


def test_cbis_films_pair_by_the_woman_not_their_own_studies():
    pairing = OtherBreastPairing()
    woman = {"exam": "CBIS-DDSM P_00173"}
    assert pairing.add(_film(1, "L", study="1.1", **woman)) == []
    assert _channels(pairing.add(_film(2, "R", study="2.2", **woman))) == {
        1: (0.1, 0.2),
        2: (0.2, 0.1),
    }
    other = {"exam": "CBIS-DDSM P_00820"}  # another woman: the one held goes alone
    assert pairing.add(_film(3, "L", study="3.3", **other)) == []
    assert _channels(pairing.add(_film(4, "R", study="4.4"))) == {3: (0.3, 0.0)}


def test_the_model_reads_one_or_two_channels_as_prepared():
    assert model_input(np.zeros((8, 8), np.float32)).shape == (1, 8, 8)
    assert model_input(np.zeros((2, 8, 8), np.float32)).shape == (2, 8, 8)
