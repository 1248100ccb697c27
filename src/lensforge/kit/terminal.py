"""Terminal output as the plain text a terminal would end up showing.

Trainers print for a terminal: colours (`ESC[1m`), progress bars that redraw their line with a
carriage return and erase the rest of it (`ESC[K`), window titles and hyperlinks (OSC). Stored
as they are, a log shows `▯[K` and a hundred copies of a progress bar. `plain_text` replays a
line the way a terminal does: `\\r` returns to the start, text overwrites, `ESC[K` erases to the
end; every other escape or control sequence is dropped. What is left is the line's last state.
"""

from __future__ import annotations

import re

# One token at a time: an OSC string (up to BEL or ST), a CSI sequence (parameters,
# intermediates, final byte), any other escape (two characters), a single control character,
# or a run of ordinary text.
_TOKEN = re.compile(
    r"""
      (?P<osc>\x1b\][^\x07\x1b]*(?:\x07|\x1b\\|$))
    | (?P<csi>(?:\x1b\[|\x9b)(?P<params>[0-?]*)[ -/]*(?P<final>[@-~]|$))
    | (?P<esc>\x1b[@-Z\\^_`a-z{|}~0-9=<>]?)
    | (?P<ctl>[\x00-\x08\x0b-\x1f\x7f-\x9f])
    | (?P<text>[^\x00-\x08\x0b-\x1f\x7f-\x9f]+)
    """,
    re.VERBOSE,
)


def plain_text(text: str) -> str:
    """`text` (one or more lines) without escape sequences, each line at its last drawn state;
    trailing whitespace of each line removed."""
    return "\n".join(_plain_line(line) for line in text.split("\n"))


def _plain_line(line: str) -> str:
    if line.isprintable():  # the common case: nothing to replay
        return line.rstrip()
    cells: list[str] = []
    cursor = 0
    for match in _TOKEN.finditer(line):
        kind = match.lastgroup
        if kind == "text" or (kind == "ctl" and match.group() == "\t"):
            chunk = match.group()
            cells[cursor : cursor + len(chunk)] = list(chunk)
            cursor += len(chunk)
        elif kind == "ctl":
            if match.group() == "\r":
                cursor = 0
            elif match.group() == "\b":
                cursor = max(0, cursor - 1)
        elif kind == "csi" and match.group("final") == "K":
            mode = match.group("params") or "0"
            if mode == "0":
                del cells[cursor:]
            elif mode == "1":
                cells[:cursor] = [" "] * min(cursor, len(cells))
            elif mode == "2":
                cells = [" "] * min(cursor, len(cells))
        # colours, cursor moves, OSC titles and links, other escapes: nothing to show
    return "".join(cells).rstrip()
