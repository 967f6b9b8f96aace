"""Ensembles: several trained models run on the same images, their detections merged.

On a set as small as mini-MIAS, two trainings that differ only in their seed find different
masses and make different false positives (docs/results.md): averaging their opinions keeps
what they agree on. Each model is one more view for the merge of test-time flips
(:func:`~mammorcnn.engine.inference.flip_merge.merge_views`), so a finding's score is the sum
of its views' scores divided by the number of views.

The members may differ in architecture, but not in what the images and classes mean: every
member must have been trained with the same preprocessing and the same classes as the first
model (``--weights``), or the merged detections would mix coordinates or labels.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mammorcnn.engine.inference.loading import LoadedModel
from mammorcnn.errors import CheckpointError


def check_member(first: LoadedModel, member: LoadedModel) -> None:
    """Refuse a member whose inputs or classes mean something else than the first model's."""
    mine, theirs = member.preprocess.to_dict(), first.preprocess.to_dict()
    if mine != theirs:
        keys = sorted(k for k in mine if mine.get(k) != theirs.get(k))
        detail = ", ".join(f"{k} {mine.get(k)!r} against {theirs.get(k)!r}" for k in keys)
        raise CheckpointError(
            member.path,
            f"was trained with other preprocessing than {first.path} ({detail}); "
            "an ensemble's models must share it",
        )
    if (member.class_names, member.category_ids) != (first.class_names, first.category_ids):
        raise CheckpointError(
            member.path,
            f"has the classes {member.categories}, {first.path} has {first.categories}; "
            "an ensemble's models must share them",
        )


def load_members(
    first: LoadedModel, paths: Sequence[str | Path], load: Callable[[str | Path], LoadedModel]
) -> list[LoadedModel]:
    """The other members of an ensemble, each loaded by ``load`` and checked against
    ``first``; the same file twice is refused (it would count one model's opinion twice)."""
    members: list[LoadedModel] = []
    seen = {first.path.resolve()}
    for path in paths:
        member = load(path)
        if member.path.resolve() in seen:
            raise CheckpointError(member.path, "is already a member of the ensemble")
        seen.add(member.path.resolve())
        check_member(first, member)
        members.append(member)
    return members
