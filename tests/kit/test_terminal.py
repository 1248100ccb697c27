"""Terminal output stored as the plain text a terminal would show (issue 13, item 6)."""

from __future__ import annotations

import pytest

from lensforge.kit.terminal import plain_text

# What Ultralytics' own progress bar (ultralytics/utils/tqdm.py) writes to a pipe: each frame
# is `\r\x1b[K` + the bar; the bar closes with `\n`, or with `\r\x1b[K` when not kept, and the
# next log line follows on the same physical line. Colours come from `colorstr`.
FRAMES = (
    "\r\x1b[K        1/2         0G      3.311      4.102      3.972          9         64: 0% ──"
    "\r\x1b[K        1/2         0G      3.247      4.087      3.954          7         64: 50% ━━"
    "\r\x1b[K        1/2         0G      3.201      4.011      3.901          5         64: 100% "
    "━━━━ 2/2 1.6it/s 1.2s"
)
CLEARED_THEN_LOGGED = (
    "\r\x1b[K                 Class     Images  Instances: 100% ━━━━ 1/1 3.1it/s 0.3s"
    "\r\x1b[K\x1b[1mval: \x1b[0mScanning /data/labels/val... 10 images, 0 backgrounds"
)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain text stays", "plain text stays"),
        (
            FRAMES,
            "        1/2         0G      3.201      4.011      3.901          5         64: "
            "100% ━━━━ 2/2 1.6it/s 1.2s",
        ),
        (CLEARED_THEN_LOGGED, "val: Scanning /data/labels/val... 10 images, 0 backgrounds"),
        # the closing clear of a bar that is not kept: nothing is left to show
        ("\r\x1b[K  50% ━━\r\x1b[K", ""),
        # colours and styles
        ("\x1b[34m\x1b[1mengine/trainer: \x1b[0mepochs=2", "engine/trainer: epochs=2"),
        ("\x1b[38;5;208mwarning\x1b[0m", "warning"),
        # OSC: a window title and a hyperlink (BEL and ST terminated)
        ("\x1b]0;training\x07done", "done"),
        ("see \x1b]8;;https://docs.ultralytics.com\x1b\\docs\x1b]8;;\x1b\\", "see docs"),
        # tqdm's redraw without an erase: the longer old text shows through, as in a terminal
        ("progress 100%\rdone", "doneress 100%"),
        ("10%\r 20%\r 30%", " 30%"),
        # backspace, bell, a lone escape at the end
        ("ab\bc\x07", "ac"),
        ("half an escape \x1b[", "half an escape"),
        # erase the whole line, then write past the old cursor
        ("abcdef\x1b[2Kxy", "      xy"),
    ],
)
def test_lines_are_stored_as_a_terminal_shows_them(raw: str, shown: str) -> None:
    assert plain_text(raw) == shown


def test_each_line_of_a_message_is_cleaned_on_its_own() -> None:
    raw = "epoch 1\r\x1b[Kepoch 2\n\x1b[31merror\x1b[0m: boom  \n\ttab kept"
    assert plain_text(raw) == "epoch 2\nerror: boom\n\ttab kept"


def test_clean_text_is_unchanged() -> None:
    text = "Transferred 355/355 items from pretrained weights — ✓ 100% ━━━━"
    assert plain_text(text) == text
    assert plain_text(plain_text(FRAMES)) == plain_text(FRAMES)
