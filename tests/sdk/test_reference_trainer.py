"""The reference trainer's math, data and files, without a server."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from lensforge.sdk import ConfigurationError, LocalDataset
from lensforge.trainers.reference.data import BACKGROUND, background_box, iou, load_split
from lensforge.trainers.reference.model import Cancelled, Hyper, TrainState
from lensforge.trainers.reference.train import model_classes, settings_from
from tests.sdk import synthetic
from tests.sdk.synthetic import classification, detection

IMGSZ = 8


def prepared(
    tmp_path: Path, model: str = "linear", seed: int = 3
) -> tuple[TrainState, list, list, list, list]:
    data = classification(tmp_path / "data", {"train": 40, "val": 20})
    train, val = load_split(data, "train", IMGSZ), load_split(data, "val", IMGSZ)
    state = TrainState.new(model, data.classes, IMGSZ, train, seed)
    return (
        state,
        [state.normalise(x) for x in train.x],
        train.y,
        [state.normalise(x) for x in val.x],
        val.y,
    )


HYPER = Hyper(epochs=6, batch_size=8, learning_rate=0.1, weight_decay=1e-4, seed=3)


def test_linear_loss_decreases_and_separable_data_is_learnt(tmp_path: Path) -> None:
    state, train_x, train_y, val_x, val_y = prepared(tmp_path)
    initial_loss, _ = state.evaluate(val_x, val_y)
    losses = []
    for _ in range(HYPER.epochs):
        loss, _ = state.train_epoch(train_x, train_y, HYPER, lambda: False)
        losses.append(loss)
    val_loss, val_accuracy = state.evaluate(val_x, val_y)
    assert losses[-1] < losses[0]
    assert val_loss < initial_loss
    assert val_accuracy > 0.9
    assert state.epoch == HYPER.epochs
    assert state.step == HYPER.epochs * 5  # 40 samples / batches of 8


def test_centroid_learns_the_class_means(tmp_path: Path) -> None:
    state, train_x, train_y, val_x, val_y = prepared(tmp_path, model="centroid")
    state.train_epoch(train_x, train_y, HYPER, lambda: False)
    _, accuracy = state.evaluate(val_x, val_y)
    assert accuracy > 0.9
    assert len(state.weights) == 2
    assert all(len(row) == IMGSZ * IMGSZ for row in state.weights)


def test_resumed_run_equals_uninterrupted_run(tmp_path: Path) -> None:
    straight, train_x, train_y, val_x, val_y = prepared(tmp_path)
    for _ in range(HYPER.epochs):
        straight.train_epoch(train_x, train_y, HYPER, lambda: False)

    first, *_ = prepared(tmp_path)
    for _ in range(2):
        first.train_epoch(train_x, train_y, HYPER, lambda: False)
    checkpoint = json.loads(json.dumps(first.to_dict()))  # through JSON, as stored
    del first
    resumed = TrainState.from_dict(checkpoint)
    assert resumed.epoch == 2
    while resumed.epoch < HYPER.epochs:
        resumed.train_epoch(train_x, train_y, HYPER, lambda: False)

    assert resumed.weights == straight.weights  # bit for bit
    assert resumed.bias == straight.bias
    assert resumed.step == straight.step
    assert resumed.rng.getstate() == straight.rng.getstate()
    assert resumed.evaluate(val_x, val_y) == straight.evaluate(val_x, val_y)


def test_cancel_is_checked_between_batches(tmp_path: Path) -> None:
    state, train_x, train_y, *_ = prepared(tmp_path)
    calls = []

    def stop_on_third() -> bool:
        calls.append(1)
        return len(calls) == 3

    with pytest.raises(Cancelled):
        state.train_epoch(train_x, train_y, HYPER, stop_on_third)
    assert state.step == 2
    assert state.epoch == 0  # an epoch cut short does not count


def test_detection_trains_on_object_crops(tmp_path: Path) -> None:
    data = detection(tmp_path / "det")
    train = load_split(data, "train", IMGSZ)
    assert len(train) == 2 * 4  # two objects in each of 4 images; the out-of-image box skipped
    assert sorted(set(train.y)) == [0, 1]
    white = [x for x, y in zip(train.x, train.y, strict=True) if y == 0]
    dark = [x for x, y in zip(train.x, train.y, strict=True) if y == 1]
    assert min(min(x) for x in white) > 0.9  # the crop holds the white square only
    assert max(max(x) for x in dark) < 0.1
    state = TrainState.new("linear", data.classes, IMGSZ, train, 0)
    xs = [state.normalise(x) for x in train.x]
    for _ in range(3):
        state.train_epoch(xs, train.y, HYPER, lambda: False)
    val = load_split(data, "val", IMGSZ)
    assert state.evaluate([state.normalise(x) for x in val.x], val.y)[1] == 1.0


def test_settings_take_manifest_defaults_and_name_bad_fields() -> None:
    settings = settings_from("linear", {"basic": {"epochs": 3}, "advanced": {}})
    assert settings.hyper.epochs == 3
    assert settings.hyper.batch_size == 16
    assert settings.imgsz == 16
    assert settings.save_every_epoch is False
    with pytest.raises(ConfigurationError, match="unknown model"):
        settings_from("resnet", {})
    with pytest.raises(ConfigurationError, match=r"basic\.batch_size"):
        settings_from("linear", {"basic": {"batch_size": 0}})
    with pytest.raises(ConfigurationError, match="momentum"):
        settings_from("linear", {"advanced": {"momentum": 0.9}})


def test_export_and_predict_from_the_command_line(tmp_path: Path) -> None:
    state, train_x, train_y, *_ = prepared(tmp_path)
    for _ in range(3):
        state.train_epoch(train_x, train_y, HYPER, lambda: False)
    checkpoint = tmp_path / "last.json"
    checkpoint.write_text(json.dumps(state.to_dict()))
    module = [sys.executable, "-m", "lensforge.trainers.reference"]

    exported = tmp_path / "out" / "model.json"
    done = subprocess.run(
        [*module, "export", "--checkpoint", str(checkpoint), "--output", str(exported)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    model = json.loads(exported.read_text())
    assert model["format"] == "lensforge-reference-model/1"
    assert "rng_state" not in model
    assert "optimizer" not in model

    images = sorted((tmp_path / "data" / "images" / "val").rglob("*.png"))[:4]
    done = subprocess.run(
        [*module, "predict", "--checkpoint", str(exported), *map(str, images)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    predictions = [json.loads(line) for line in done.stdout.splitlines()]
    assert [p["image"] for p in predictions] == [str(i) for i in images]
    for prediction, image in zip(predictions, images, strict=True):
        expected = "left" if image.parent.name == "0" else "right"
        assert prediction["class"] == expected
        assert 0.5 < prediction["score"] <= 1.0
        assert set(prediction["scores"]) == {"left", "right"}


def test_predict_reports_a_bad_checkpoint(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "lensforge.trainers.reference",
            "predict",
            "--checkpoint",
            str(bad),
            str(bad),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "not a reference trainer checkpoint" in done.stderr


def _one_class(root: Path, images: int = 9) -> LocalDataset:
    """Noisy grey 64x48 images, each with one white square (the only class)."""
    rng = random.Random(5)
    items = []
    for index in range(images):
        image = Image.new("L", (64, 48))
        image.putdata([rng.randint(60, 160) for _ in range(64 * 48)])
        x, y = rng.randint(0, 40), rng.randint(0, 24)
        image.paste(255, (x, y, x + 20, y + 20))
        split = "val" if index % 3 == 0 else "train"
        path = root / "images" / split / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        image.convert("RGB").save(path)
        items.append(
            synthetic._item(
                path, f"{index}.png", split, annotations=[{"class_id": 0, "bbox": [x, y, 20, 20]}]
            )
        )
    return synthetic._write(root, "detection", ["white"], items)


def test_a_one_class_detection_set_has_something_to_learn(tmp_path: Path) -> None:
    """Issue 13 item 5: on a one-class set the crops were all of one class, so loss was 0 and
    accuracy 1 from the first epoch. Background crops give the numbers a meaning, and images
    are counted as images, objects as objects."""
    data = _one_class(tmp_path / "one")
    classes = model_classes("detection", data.classes)
    assert classes == ["white", BACKGROUND]
    train = load_split(data, "train", IMGSZ, background_class=1)
    val = load_split(data, "val", IMGSZ, background_class=1)
    assert (train.images, train.objects, train.background, len(train)) == (6, 6, 6, 12)
    assert train.describe() == "6 images: 6 objects + 6 background crops"
    assert sorted(set(train.y)) == [0, 1]
    state = TrainState.new("linear", classes, IMGSZ, train, 0)
    xs = [state.normalise(x) for x in train.x]
    first_loss, _ = state.train_epoch(xs, train.y, HYPER, lambda: False)
    assert first_loss > 0.05  # not 0.0000 by construction
    for _ in range(5):
        state.train_epoch(xs, train.y, HYPER, lambda: False)
    val_loss, val_accuracy = state.evaluate([state.normalise(x) for x in val.x], val.y)
    assert val_loss > 0
    assert val_accuracy >= 0.8  # held-out objects told from background: learnt, not given


def test_background_crops_avoid_the_objects() -> None:
    rng = random.Random(0)
    objects = [[0.0, 0.0, 20.0, 20.0], [40.0, 20.0, 20.0, 20.0]]
    for _ in range(50):
        spot = background_box(objects[0], objects, 64, 48, rng)
        assert spot is not None
        assert all(iou(spot, other) <= 0.1 for other in objects)
        x, y, w, h = spot
        assert x >= 0
        assert y >= 0
        assert x + w <= 64
        assert y + h <= 48
    # An object that fills the image leaves no room for background.
    assert background_box([0, 0, 64, 48], [[0, 0, 64, 48]], 64, 48, rng) is None


def test_classification_gets_no_background_class(tmp_path: Path) -> None:
    data = classification(tmp_path / "cls", {"train": 4, "val": 2})
    assert model_classes("classification", data.classes) == data.classes
    train = load_split(data, "train", IMGSZ, background_class=None)
    assert (train.objects, train.background) == (0, 0)
    assert train.describe() == f"{train.images} images"
