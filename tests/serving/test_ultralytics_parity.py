"""Our letterbox, NMS, box back-mapping, masks and outlines against Ultralytics' own functions, in the trainer's
environment (built once into .cache/, like the other Ultralytics tests). Slow: torch starts."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.fixtures.shared_data import RACCOON
from tests.trainers.ultralytics.conftest import ultralytics_python  # noqa: F401 (fixture)

SCRIPT = Path(__file__).with_name("ultralytics_parity.py")

pytestmark = pytest.mark.slow


def test_preprocessing_and_postprocessing_match_ultralytics(ultralytics_python: Path) -> None:  # noqa: F811
    images = sorted((RACCOON / "images").glob("*.jpg"))[:6]
    completed = subprocess.run(
        [str(ultralytics_python), str(SCRIPT), *map(str, images)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])

    letterbox = report["letterbox"]
    assert letterbox["shape_mismatches"] == 0
    # OpenCV resizes uint8 in fixed point, we in float: at most one level apart, rarely.
    assert letterbox["max_pixel_diff"] <= 1
    assert letterbox["mean_pixel_diff"] < 0.25
    for decoded in report["decode"]:
        assert decoded["detections"] > 5
        assert decoded["count_mismatch"] == 0
        assert decoded["max_detection_diff"] < 1e-4
        assert decoded["max_scaled_box_diff"] < 1e-3
    assert report["classification"]["max_value_diff"] < 1e-6  # the same pixels, /255
    for masks in report["masks"]:
        assert masks["mask_pixels"] > 1000
        assert masks["mask_pixels_differing"] == 0  # the same masks as process_mask
        assert masks["outlines_differing"] == 0  # the same points as cv2.findContours
