"""training models: preference pairs and completion examples with their provenance, frozen
dataset versions and their splits, and training runs (DESIGN.md section 4)."""

from training.models.datasets import DatasetItem, DatasetVersion
from training.models.pairs import CompletionExample, PairBuild, PreferencePair
from training.models.runs import TrainingRun

__all__ = [
    "CompletionExample",
    "DatasetItem",
    "DatasetVersion",
    "PairBuild",
    "PreferencePair",
    "TrainingRun",
]
