"""Preprocessing: breast crop, orientation, resize/pad, normalisation, and its invertible record."""

from mammorcnn.data.preprocess.config import PreprocessConfig
from mammorcnn.data.preprocess.pipeline import preprocess
from mammorcnn.data.preprocess.record import PreprocessRecord

__all__ = ["PreprocessConfig", "PreprocessRecord", "preprocess"]
