"""Why the model scored an item as it did: the features that pushed its score most (TreeSHAP, LightGBM's
`pred_contrib`, in log-odds), computed at once or later, exactly, from the item's stored row of inputs."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from concord.errors import Conflict

if TYPE_CHECKING:
    from concord.risk.learning.model import RiskModel

MAIN, NEW_LINES = "main", "new_lines"  # which booster scored an item, so explains it


def contributions(model: RiskModel, x: np.ndarray, top: int) -> list[dict]:
    """The main booster's `top` contributions for the one row `x`, with each feature's value (categories named)."""
    contrib = model.booster.predict(x, pred_contrib=True, num_threads=1)[0][:-1]  # last column: bias
    names = model.spec.names()
    order = np.argsort(-np.abs(contrib))[:top]
    return [{"feature": names[i], "value": _readable(model, names[i], x[0, i]),
             "contribution": round(float(contrib[i]), 6)} for i in order]


def _readable(model: RiskModel, name: str, value: float):
    if name.startswith("cat.") and not np.isnan(value):
        vocab = model.spec.vocab.get(name[4:], [])
        return vocab[int(value)] if int(value) < len(vocab) else "other"
    return None if np.isnan(value) else round(float(value), 6)


@dataclass(frozen=True)
class Riskiest:
    """A declaration's riskiest item as its booster read it: explained now, or its inputs stored so that it is
    explained exactly later (the same booster on the same row: the history it was read from may have moved on)."""

    model: RiskModel
    top: int
    by: str  # MAIN or NEW_LINES
    row: np.ndarray  # its row of that booster's inputs

    def explain(self) -> list[dict]:
        with self.model._lock:
            return _explained(self.model, self.by, self.row, self.top)

    def inputs(self) -> dict:
        """JSON: 8 bytes a column (float64, NaN kept), so that the trees split on exactly the same values."""
        return {"by": self.by, "row": base64.b64encode(self.row.astype("<f8").tobytes()).decode()}


def from_inputs(model: RiskModel, inputs: dict, top: int) -> list[dict]:
    """`Riskiest.explain` from what `Riskiest.inputs` stored, by the model version that wrote them."""
    width = {MAIN: len(model.spec.names()), NEW_LINES: model.new_lines and len(model.new_lines.names)}
    try:
        row = np.frombuffer(base64.b64decode(inputs["row"], validate=True), dtype="<f8").reshape(1, -1)
        fits = width.get(inputs["by"]) == row.shape[1]
    except (KeyError, TypeError, ValueError):  # binascii.Error is a ValueError
        fits = False
    if not fits:
        raise Conflict(f"the stored inputs were not written by risk model {model.version}")
    return _explained(model, inputs["by"], row, top)


def _explained(model: RiskModel, by: str, row: np.ndarray, top: int) -> list[dict]:
    if by == NEW_LINES:
        return model.new_lines.explain(None, top, columns=row)
    return contributions(model, row, top)
