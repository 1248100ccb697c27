"""A trainer's output as the worker captures it: a real subprocess writing what Ultralytics
writes to a pipe (colours, `\\r\\x1b[K` progress frames), read by the log pump (issue 13,
item 6)."""

from __future__ import annotations

import subprocess
import sys
import uuid

from lensforge.orchestration.local.logs import AttemptRef, LogBuffer, pump

SCRIPT = r"""
import sys, time
out = sys.stdout
out.write("\x1b[34m\x1b[1mengine/trainer: \x1b[0mepochs=2, imgsz=64\n")
for percent in (0, 50, 100):
    out.write(f"\r\x1b[K        1/2         0G      3.311: {percent}% ━━")
    out.flush()
out.write("\n")
out.write("\r\x1b[K                 all         10         12: 100% ━━━━\r\x1b[K")
out.write("\x1b[1mval: \x1b[0mScanning labels... 10 images\n")
out.write("\r\x1b[K\n")
"""


def test_captured_lines_are_plain_text_at_their_last_state() -> None:
    ref = AttemptRef(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 1)
    buffer = LogBuffer()
    child = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE)
    assert child.stdout is not None
    pump(child.stdout, ref, "stdout", buffer).join(timeout=30)
    assert child.wait(timeout=30) == 0
    assert [line.message for line in buffer._lines] == [
        "engine/trainer: epochs=2, imgsz=64",
        "        1/2         0G      3.311: 100% ━━",
        "val: Scanning labels... 10 images",
    ]


def test_notes_added_directly_are_cleaned_too() -> None:
    ref = AttemptRef(uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), 1)
    buffer = LogBuffer()
    buffer.add(ref, "worker", "\x1b[31mbuild failed\x1b[0m")
    assert [line.message for line in buffer._lines] == ["build failed"]
