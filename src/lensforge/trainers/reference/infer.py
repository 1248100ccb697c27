"""`predict` and `export`: use a checkpoint (or an exported model) without the server.

predict: prints one JSON object per image, `{"image", "class_id", "class", "score",
"scores"}`: the whole image classified (for detection data the model learnt object crops, so
this answers "what is this crop"). export: writes the model alone as plain JSON (`json`, the
manifest's export format), which `predict` accepts too.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from lensforge.trainers.reference.data import image_vector
from lensforge.trainers.reference.model import TrainState, argmax


def load(path: Path) -> TrainState:
    return TrainState.from_dict(json.loads(path.read_text(encoding="utf-8")))


def predict(checkpoint: Path, images: list[Path]) -> list[dict[str, Any]]:
    state = load(checkpoint)
    out = []
    for image in images:
        p = state.probabilities(state.normalise(image_vector(image, state.imgsz)))
        best = argmax(p)
        out.append(
            {
                "image": str(image),
                "class_id": best,
                "class": state.classes[best],
                "score": p[best],
                "scores": dict(zip(state.classes, p, strict=True)),
            }
        )
    return out


def export(checkpoint: Path, output: Path) -> Path:
    state = load(checkpoint)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(state.export()), encoding="utf-8")
    return output


def print_predictions(checkpoint: Path, images: list[Path]) -> None:
    for prediction in predict(checkpoint, images):
        sys.stdout.write(json.dumps(prediction) + "\n")
