"""Evaluation campaign (issue #8): the whole two-stage pipeline on many simulated parts, scored against
ground truth, with ablations (vision only, the paper's flagged regions, low-confidence flags, full coverage)."""
