"""The two models, in plain Python: softmax regression fitted by mini-batch SGD (`linear`) and
nearest class mean (`centroid`), on standardised pixel vectors.

Everything that influences the next epoch lives in `TrainState` and survives `to_dict` /
`from_dict` exactly (JSON writes floats by their shortest round-tripping repr; the random
generator's whole state is saved), so a run resumed from a checkpoint produces the same
weights, bit for bit, as one that was never interrupted.
"""

from __future__ import annotations

import math
import operator
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from lensforge.trainers.reference.data import Samples, Vector

CHECKPOINT_FORMAT = "lensforge-reference-checkpoint/1"
MODEL_FORMAT = "lensforge-reference-model/1"
MODELS = ("linear", "centroid")


class Cancelled(Exception):
    """The server asked to stop (checked between batches)."""


@dataclass(frozen=True)
class Hyper:
    epochs: int
    batch_size: int
    learning_rate: float
    weight_decay: float
    seed: int

    def lr_at(self, epoch: int) -> float:
        """Cosine decay from `learning_rate` over the run (epochs count from 1)."""
        return self.learning_rate * 0.5 * (1 + math.cos(math.pi * (epoch - 1) / self.epochs))


@dataclass
class TrainState:
    model: str
    classes: list[str]
    imgsz: int
    mean: Vector
    scale: float
    weights: list[Vector]
    """linear: one weight row per class; centroid: the class means (empty row: no samples)."""
    bias: Vector
    rng: random.Random
    epoch: int = 0
    step: int = 0
    best_epoch: int | None = None
    best_value: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    # --- building ------------------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        model: str,
        classes: Sequence[str],
        imgsz: int,
        train: Samples,
        seed: int,
        config: dict[str, Any] | None = None,
    ) -> TrainState:
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}; use one of {MODELS}")
        size = imgsz * imgsz
        count = len(train)
        mean = [sum(column) / count for column in zip(*train.x, strict=True)] if count else []
        mean = mean or [0.0] * size
        variance = sum((v - m) ** 2 for x in train.x for v, m in zip(x, mean, strict=True))
        scale = math.sqrt(variance / max(1, count * size)) or 1.0
        rng = random.Random(seed)  # noqa: S311 (initialisation and shuffling, not secrets)
        if model == "linear":
            weights = [[rng.uniform(-0.01, 0.01) for _ in range(size)] for _ in classes]
        else:
            weights = [[] for _ in classes]
        return cls(
            model=model,
            classes=list(classes),
            imgsz=imgsz,
            mean=mean,
            scale=scale,
            weights=weights,
            bias=[0.0] * len(classes),
            rng=rng,
            config=dict(config or {}),
        )

    def normalise(self, x: Vector) -> Vector:
        inverse = 1.0 / self.scale
        return [(v - m) * inverse for v, m in zip(x, self.mean, strict=True)]

    # --- inference ------------------------------------------------------------------------------

    def logits(self, x: Vector) -> Vector:
        if self.model == "linear":
            return [
                b + sum(map(operator.mul, w, x))
                for w, b in zip(self.weights, self.bias, strict=True)
            ]
        size = len(x)
        return [
            -sum((v - m) ** 2 for v, m in zip(x, mu, strict=True)) / size if mu else -math.inf
            for mu in self.weights
        ]

    def probabilities(self, x: Vector) -> Vector:
        return softmax(self.logits(x))

    def evaluate(self, samples: list[Vector], labels: list[int]) -> tuple[float, float]:
        """(mean cross-entropy, accuracy) on normalised samples."""
        if not labels:
            return math.nan, math.nan
        loss = 0.0
        correct = 0
        for x, y in zip(samples, labels, strict=True):
            p = self.probabilities(x)
            loss -= math.log(max(p[y], 1e-12))
            correct += argmax(p) == y
        return loss / len(labels), correct / len(labels)

    # --- training -------------------------------------------------------------------------------

    def train_epoch(
        self,
        samples: list[Vector],
        labels: list[int],
        hyper: Hyper,
        should_stop: Callable[[], bool],
    ) -> tuple[float, float]:
        """One epoch; (mean training loss, training accuracy) as seen during it."""
        epoch = self.epoch + 1
        if self.model == "centroid":
            if should_stop():
                raise Cancelled
            self._fit_centroids(samples, labels)
            result = self.evaluate(samples, labels)
        else:
            result = self._sgd_epoch(samples, labels, hyper, hyper.lr_at(epoch), should_stop)
        self.epoch = epoch
        return result

    def _fit_centroids(self, samples: list[Vector], labels: list[int]) -> None:
        sums: list[Vector | None] = [None] * len(self.classes)
        counts = [0] * len(self.classes)
        for x, y in zip(samples, labels, strict=True):
            row = sums[y]
            sums[y] = list(x) if row is None else [a + b for a, b in zip(row, x, strict=True)]
            counts[y] += 1
        self.weights = [
            [] if row is None else [v / n for v in row] for row, n in zip(sums, counts, strict=True)
        ]

    def _sgd_epoch(
        self,
        samples: list[Vector],
        labels: list[int],
        hyper: Hyper,
        lr: float,
        should_stop: Callable[[], bool],
    ) -> tuple[float, float]:
        order = list(range(len(labels)))
        self.rng.shuffle(order)
        total_loss = 0.0
        correct = 0
        decay = 1.0 - lr * hyper.weight_decay
        for start in range(0, len(order), hyper.batch_size):
            if should_stop():
                raise Cancelled
            batch = order[start : start + hyper.batch_size]
            errors: list[Vector] = []  # p - onehot(y): the gradient of the loss by the logits
            for i in batch:
                p = self.probabilities(samples[i])
                y = labels[i]
                total_loss -= math.log(max(p[y], 1e-12))
                correct += argmax(p) == y
                p[y] -= 1.0
                errors.append(p)
            step = lr / len(batch)
            for c, row in enumerate(self.weights):
                new = [w * decay for w in row]
                bias_gradient = 0.0
                for error, i in zip(errors, batch, strict=True):
                    g = error[c]
                    bias_gradient += g
                    if g:
                        a = step * g
                        new = [w - a * v for w, v in zip(new, samples[i], strict=True)]
                self.weights[c] = new
                self.bias[c] -= step * bias_gradient
            self.step += 1
        return total_loss / len(labels), correct / len(labels)

    # --- persistence ----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        version, internal, gauss = self.rng.getstate()
        return {
            "format": CHECKPOINT_FORMAT,
            **self.export(),
            "epoch": self.epoch,
            "optimizer": {"name": "sgd", "step": self.step, "schedule": "cosine"},
            "rng_state": [version, list(internal), gauss],
            "best": {"epoch": self.best_epoch, "metric": "val/accuracy", "value": self.best_value},
            "config": self.config,
        }

    def export(self) -> dict[str, Any]:
        """What inference needs, nothing about training: the `json` export format."""
        return {
            "format": MODEL_FORMAT,
            "model": self.model,
            "classes": self.classes,
            "imgsz": self.imgsz,
            "mean": self.mean,
            "scale": self.scale,
            "weights": self.weights,
            "bias": self.bias,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        """A checkpoint (to resume) or an export (to predict: no rng, epoch 0)."""
        if data.get("format") not in (CHECKPOINT_FORMAT, MODEL_FORMAT):
            raise ValueError(f"not a reference trainer checkpoint: format {data.get('format')!r}")
        rng = random.Random()  # noqa: S311
        if "rng_state" in data:
            version, internal, gauss = data["rng_state"]
            rng.setstate((version, tuple(internal), gauss))
        best = data.get("best") or {}
        return cls(
            model=data["model"],
            classes=list(data["classes"]),
            imgsz=int(data["imgsz"]),
            mean=[float(v) for v in data["mean"]],
            scale=float(data["scale"]),
            weights=[[float(v) for v in row] for row in data["weights"]],
            bias=[float(v) for v in data["bias"]],
            rng=rng,
            epoch=int(data.get("epoch", 0)),
            step=int((data.get("optimizer") or {}).get("step", 0)),
            best_epoch=best.get("epoch"),
            best_value=best.get("value"),
            config=dict(data.get("config") or {}),
        )


def softmax(z: Vector) -> Vector:
    top = max(z)
    exps = [math.exp(v - top) for v in z]
    total = sum(exps)
    return [v / total for v in exps]


def argmax(values: Vector) -> int:
    return max(range(len(values)), key=values.__getitem__)
