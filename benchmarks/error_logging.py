"""What logging one unhandled error costs: the old console setup (structlog's ConsoleRenderer,
which uses rich's tracebacks with every local of every frame) against `configure_logging`
(plain traceback, redaction, a writer thread).

    .venv/bin/python benchmarks/error_logging.py [--depth 12 --locals-kib 256]

Prints, for each setup: seconds in the logging call (what the event loop waits), bytes written,
and whether a token held in a local variable reached the log.
"""

from __future__ import annotations

import argparse
import io
import logging
import time
from typing import Any

import structlog

from lensforge.logging import configure_logging, stop_logging

TOKEN = "lfj_benchmarkSecretJobToken0123456789abcdef"


def _old_setup(stream: io.StringIO) -> None:
    """The configuration before issue 12: ConsoleRenderer's default exception formatter."""
    shared: list[Any] = [structlog.processors.add_log_level]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.dev.ConsoleRenderer(colors=False),
            ],
        )
    )
    logging.getLogger().handlers = [handler]
    logging.getLogger().setLevel("INFO")


def _raise_deep(depth: int, payload: dict[str, Any]) -> None:
    job_token = TOKEN  # what a route handling a trainer request holds
    rows = payload
    if depth == 0:
        raise RuntimeError(f"failed after {len(rows)} rows ({len(job_token)})")
    _raise_deep(depth - 1, payload)


def _measure(depth: int, locals_kib: int) -> float:
    payload = {f"key-{n}": "x" * 64 for n in range(locals_kib * 1024 // 64)}
    log = structlog.get_logger("benchmark")
    try:
        _raise_deep(depth, payload)
    except RuntimeError:
        started = time.perf_counter()
        log.exception("unhandled error", path="/api/v1/trainer/jobs/x/reports")
        return time.perf_counter() - started
    raise AssertionError("unreachable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--depth", type=int, default=12)
    parser.add_argument("--locals-kib", type=int, default=256)
    args = parser.parse_args()
    for name in ("before (rich tracebacks)", "configure_logging"):
        stream = io.StringIO()
        if name.startswith("before"):
            _old_setup(stream)
        else:
            configure_logging("INFO", stream=stream)
        seconds = _measure(args.depth, args.locals_kib)
        stop_logging()
        text = stream.getvalue()
        print(
            f"{name:26} {seconds * 1000:9.1f} ms in the call  {len(text) / 1024:9.1f} KiB written"
            f"  token in log: {TOKEN in text}"
        )


if __name__ == "__main__":
    main()
