"""Synthetic mammogram phantoms with exact mass masks, for the tests and the built-in demo."""

from mammorcnn.data.synthetic.dataset import CATEGORIES, generate_phantom_dataset
from mammorcnn.data.synthetic.masses import PATHOLOGY, SHAPES
from mammorcnn.data.synthetic.phantom import make_phantom

__all__ = ["CATEGORIES", "PATHOLOGY", "SHAPES", "generate_phantom_dataset", "make_phantom"]
