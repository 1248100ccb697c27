"""Nothing the trainer asks of Ultralytics touches the network: in the trainer's environment,
with every socket connection and name lookup refused (and recorded), the offline setup, the
import, a model built from its YAML, a prediction with drawn labels (the font), and ONNX and
OpenVINO exports (their requirement checks, OpenVINO's telemetry) all run without one attempt."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("ultralytics")

SCRIPT = r"""
import json, socket, sys
from pathlib import Path

attempts = []
def refuse(kind):
    def call(*args, **kwargs):
        attempts.append(f"{kind} {args[1:2] if kind == 'connect' else args[:1]}")
        raise OSError(f"network refused by the test: {kind}")
    return call
socket.socket.connect = refuse("connect")
socket.socket.connect_ex = refuse("connect")
socket.getaddrinfo = refuse("getaddrinfo")
socket.gethostbyname = refuse("gethostbyname")
socket.create_connection = refuse("create_connection")

work = Path(sys.argv[1])
from lensforge.trainers.ultralytics import offline
offline.prepare(work / "config")
from ultralytics import YOLO
offline.silence_settings()
from PIL import Image
Image.new("RGB", (64, 48), (120, 80, 40)).save(work / "image.png")
model = YOLO("yolov8n.yaml")
result = model.predict(str(work / "image.png"), imgsz=64, conf=0.0, device="cpu", verbose=False)[0]
result.plot()  # draws labels: the font must come from the config dir, not a download
model.save(str(work / "model.pt"))
YOLO(str(work / "model.pt")).export(format="onnx", imgsz=64, device="cpu")
YOLO(str(work / "model.pt")).export(format="openvino", imgsz=64, device="cpu")
print(json.dumps({"attempts": attempts}))
"""


def test_the_trainer_side_of_ultralytics_makes_no_network_call(
    ultralytics_python: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YOLO_", "LENSFORGE_"))}
    done = subprocess.run(
        [str(ultralytics_python), "-c", SCRIPT, str(tmp_path)],
        env=env | {"HOME": str(tmp_path)},
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"attempts": []}
    assert (tmp_path / "config" / "Ultralytics" / "Arial.ttf").is_file()
    assert (tmp_path / "model.onnx").is_file()
