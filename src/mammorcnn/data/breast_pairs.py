"""Which two images are the same woman's two breasts in one view.

One rule for the whole project: the contralateral suppression at inference
(engine/inference/contralateral.py) and the other-breast input channel
(``data.preprocess.other_breast``) pair images the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any


def pair_contralateral(images: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """image id -> the id of the same woman's other breast in the same view.

    Each image is a mapping with ``id``, ``patient_id``, ``view`` and ``laterality`` ("L" or
    "R"; anything else leaves the image unpaired). A group of one woman and view pairs only
    when it holds exactly one left and one right image.
    """
    groups: dict[tuple[str, str], dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for image in images:
        patient, side = image.get("patient_id"), image.get("laterality")
        if not patient or side not in ("L", "R"):
            continue
        view = str(image.get("view") or "").upper()
        groups[(str(patient), view)][side].append(int(image["id"]))
    pairs: dict[int, int] = {}
    for sides in groups.values():
        if len(sides["L"]) == 1 and len(sides["R"]) == 1:
            left, right = sides["L"][0], sides["R"][0]
            pairs[left], pairs[right] = right, left
    return pairs
