"""torchmetrics collections used by every project (one place that fixes names and averaging: a precision,
recall or F1 always names its averaging, as the root README's "Metric names" table says)."""

from __future__ import annotations

from torchmetrics import MetricCollection
from torchmetrics.classification import (
    MulticlassAccuracy,
    MulticlassConfusionMatrix,
    MulticlassF1Score,
    MulticlassJaccardIndex,
    MulticlassPrecision,
    MulticlassRecall,
    MultilabelF1Score,
    MultilabelPrecision,
    MultilabelRecall,
)


def classification_metrics(num_classes: int, prefix: str = "") -> MetricCollection:
    """Accuracy (micro), macro precision/recall/F1 and weighted F1 for single-label classification."""
    return MetricCollection(
        {
            "acc": MulticlassAccuracy(num_classes, average="micro"),
            "precision_macro": MulticlassPrecision(num_classes, average="macro"),
            "recall_macro": MulticlassRecall(num_classes, average="macro"),
            "f1_macro": MulticlassF1Score(num_classes, average="macro"),
            "f1_weighted": MulticlassF1Score(num_classes, average="weighted"),
        },
        prefix=prefix,
    )


def multilabel_metrics(num_labels: int, prefix: str = "", threshold: float = 0.5) -> MetricCollection:
    return MetricCollection(
        {
            "f1_macro": MultilabelF1Score(num_labels, threshold=threshold, average="macro"),
            "f1_weighted": MultilabelF1Score(num_labels, threshold=threshold, average="weighted"),
            "f1_micro": MultilabelF1Score(num_labels, threshold=threshold, average="micro"),
            "precision_macro": MultilabelPrecision(num_labels, threshold=threshold, average="macro"),
            "recall_macro": MultilabelRecall(num_labels, threshold=threshold, average="macro"),
        },
        prefix=prefix,
    )


def segmentation_metrics(num_classes: int, ignore_index: int | None = 255, prefix: str = "") -> MetricCollection:
    """mIoU (macro Jaccard), per-class IoU and mean Dice (= pixel F1 per class, macro)."""
    return MetricCollection(
        {
            "miou": MulticlassJaccardIndex(num_classes, average="macro", ignore_index=ignore_index),
            "iou_per_class": MulticlassJaccardIndex(num_classes, average="none", ignore_index=ignore_index),
            "dice": MulticlassF1Score(num_classes, average="macro", ignore_index=ignore_index,
                                      multidim_average="global"),
        },
        prefix=prefix,
    )


def confusion_matrix(num_classes: int, ignore_index: int | None = None) -> MulticlassConfusionMatrix:
    return MulticlassConfusionMatrix(num_classes, ignore_index=ignore_index)
