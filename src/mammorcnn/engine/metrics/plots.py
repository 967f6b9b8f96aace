"""FROC and precision-recall figures as PNG bytes.

Figures are built with matplotlib's object API on an Agg canvas rather than pyplot: no global
backend switch (the trainer or a notebook in the same process keeps its own), no figure
registry to leak, and the bytes can be written atomically by the caller.
"""

from __future__ import annotations

import io
from collections.abc import Mapping

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from mammorcnn.engine.metrics.coco_map import CocoMetrics
from mammorcnn.engine.metrics.froc import FrocResult


def _png(fig: Figure) -> bytes:
    FigureCanvasAgg(fig)
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


def froc_png(result: FrocResult, title: str = "FROC") -> bytes:
    """Step curve of sensitivity against FP/image (log2 axis), the listed points marked."""
    fig = Figure(figsize=(6.0, 4.5))
    ax = fig.add_subplot()
    rates = [r for r in result.fp_rates if r > 0] or [1.0]
    left = min(rates) / 2
    right = max(max(rates) * 2, float(result.curve_fp[-1]) * 1.2, left * 4)
    # Operating points at 0 FP would sit at -inf on a log axis: pin them to the left edge.
    fp = np.clip(np.append(result.curve_fp, right), left, right)
    sens = np.append(result.curve_sensitivity, result.curve_sensitivity[-1])
    ax.step(fp, sens, where="post", color="tab:blue", lw=1.8, label="FROC")
    listed = [(r, s) for r, s in zip(result.fp_rates, result.sensitivities) if r > 0]
    if listed:
        xs, ys = zip(*listed)
        ax.plot(xs, ys, "o", color="tab:red", ms=5, label="reported points")
        for x, y in listed:
            if np.isfinite(y):
                ax.annotate(f"{y:.2f}", (x, y), textcoords="offset points", xytext=(0, 6),
                            ha="center", fontsize=8)  # fmt: skip
    ax.set_xscale("log", base=2)
    ax.set_xlim(left, right)
    ax.set_xticks(rates, [f"{r:g}" for r in rates])
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("false positives per image")
    ax.set_ylabel("sensitivity (lesions found)")
    ax.set_title(f"{title}  (mean sensitivity {result.mean_sensitivity:.3f})", fontsize=10)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def pr_png(metrics: Mapping[str, CocoMetrics | None], title: str = "Precision-recall") -> bytes:
    """COCOeval precision-recall at IoU 0.5 (solid) and 0.75 (dashed) per IoU type."""
    fig = Figure(figsize=(6.0, 4.5))
    ax = fig.add_subplot()
    colours = {"bbox": "tab:blue", "segm": "tab:orange"}
    drawn = False
    for iou_type, m in metrics.items():
        if m is None:
            continue
        colour = colours.get(iou_type, None)
        ax.plot(m.recall, m.precision50, color=colour, lw=1.8,
                label=f"{iou_type} IoU 0.5 (AP50 {m.stats['AP50'] or 0:.3f})")  # fmt: skip
        ax.plot(m.recall, m.precision75, color=colour, lw=1.2, ls="--",
                label=f"{iou_type} IoU 0.75 (AP75 {m.stats['AP75'] or 0:.3f})")  # fmt: skip
        drawn = True
    if not drawn:
        ax.text(0.5, 0.5, "no ground-truth lesions: undefined", ha="center", va="center")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    if drawn:
        ax.legend(loc="lower left", fontsize=8)
    return _png(fig)
