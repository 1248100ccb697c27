"""Keep Ultralytics off the network: no settings sync, no font download, no pip auto-install,
no telemetry. Must run before `ultralytics` is imported (it reads the variables at import).

Without these, the first plot or label drawing fetches Arial.ttf, a missing optional package
triggers `pip install`, OpenVINO's telemetry phones home, and the analytics events try to send:
on a machine without internet each of those stalls or fails a job.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

# Fonts Ultralytics looks for in its config dir (it downloads them when missing).
FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")

OFFLINE_VARIABLES = {
    "YOLO_OFFLINE": "1",
    "YOLO_AUTOINSTALL": "false",
    "YOLO_VERBOSE": "true",
    # OpenVINO's telemetry and several libraries stay quiet on CI.
    "CI": "true",
    "OPENVINO_TELEMETRY": "0",
    "HF_HUB_OFFLINE": "1",
    "MPLBACKEND": "Agg",
}


def bundled_font() -> Path | None:
    """A TrueType font shipped with a dependency (matplotlib's DejaVu Sans), or None."""
    try:
        import matplotlib
    except ImportError:
        return None
    font = Path(matplotlib.__file__).parent / "mpl-data" / "fonts" / "ttf" / "DejaVuSans.ttf"
    return font if font.is_file() else None


def prepare(config_dir: Path, font: Path | None = None) -> Path:
    """Set the variables (those the operator set are kept) and lay out `config_dir` with the
    fonts in place; returns Ultralytics' own settings folder inside it."""
    for name, value in OFFLINE_VARIABLES.items():
        os.environ.setdefault(name, value)
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    # matplotlib builds its font cache there instead of in a home folder that may be read-only.
    os.environ.setdefault("MPLCONFIGDIR", str(config_dir / "matplotlib"))
    folder = config_dir / "Ultralytics"
    folder.mkdir(parents=True, exist_ok=True)
    source = font or bundled_font()
    if source is not None:
        for name in FONT_NAMES:
            target = folder / name
            if not target.exists():
                shutil.copyfile(source, target)
    return folder


def silence_settings() -> None:
    """Turn off Ultralytics' settings sync and every logger integration (call after import)."""
    from ultralytics.utils import SETTINGS

    quiet = {"sync": False, "hub": False, "api_key": ""}
    for key in ("clearml", "comet", "dvc", "mlflow", "neptune", "raytune", "tensorboard", "wandb"):
        if key in SETTINGS:
            quiet[key] = False
    SETTINGS.update({k: v for k, v in quiet.items() if k in SETTINGS})
