from __future__ import annotations

import re
from pathlib import Path

from lensforge.formats import CODES, FORMATS

DOC = Path(__file__).resolve().parents[2] / "docs" / "dataset-formats.md"


def test_every_validation_code_is_documented_with_its_severity() -> None:
    rows = dict(re.findall(r"^\| `([a-z_]+)` \| (error|warning) \|", DOC.read_text(), re.M))
    assert rows == {code: info.severity.value for code, info in CODES.items()}


def test_every_format_is_documented() -> None:
    text = DOC.read_text()
    for name in FORMATS:
        assert f"`{name}`" in text
