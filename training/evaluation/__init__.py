"""Evaluation against the generator's ground truth: the only code allowed to read ``truth/``."""

from training.evaluation.truth import TruthMissingError, read_truth, truth_available

__all__ = ["TruthMissingError", "read_truth", "truth_available"]
