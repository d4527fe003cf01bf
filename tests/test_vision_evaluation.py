"""Recall per defect size, as the evaluation JSON and the bench report it."""
from __future__ import annotations

from inspection.datasets import Box
from inspection.vision.evaluation import SIZE_LABELS, recall_by_size


def test_recall_by_size_counts_hits_per_bin():
    truths = [(Box("pit", 0, 0, 10, 10), Box("pit", 50, 50, 52, 52)), (Box("dent", 0, 0, 100, 100),)]
    predictions = [[("pit", 0.9, 0, 0, 10, 10), ("pit", 0.1, 50, 50, 52, 52)],  # the second is below threshold
                   [("pit", 0.9, 0, 0, 100, 100)]]  # right place, wrong class
    result = recall_by_size(predictions, truths, conf=0.25)
    assert result == {"0-8px": {"truths": 1, "detected": 0, "recall": 0.0},
                      "8-16px": {"truths": 1, "detected": 1, "recall": 1.0},
                      ">=96px": {"truths": 1, "detected": 0, "recall": 0.0}}
    assert list(result) == [label for label in SIZE_LABELS if label in result]


def test_a_box_off_by_more_than_iou_half_is_a_miss():
    truth = [(Box("scratch", 0, 0, 40, 10),)]
    assert recall_by_size([[("scratch", 0.9, 25, 0, 65, 10)]], truth, 0.25)["16-32px"]["detected"] == 0
    assert recall_by_size([[("scratch", 0.9, 5, 0, 45, 10)]], truth, 0.25)["16-32px"]["detected"] == 1
