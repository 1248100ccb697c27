"""Prometheus metrics of a serving replica (`GET /metrics`). Each instance has its own registry,
so several apps (or tests) in one process never collide."""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

# From a cached tiny model (about 1 ms) to a large batch on CPU (several seconds).
_LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


class ServingMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._requests = Counter(
            "lensforge_serving_requests",
            "Answered requests by deployment, route and HTTP status.",
            ("deployment", "route", "status"),
            registry=self.registry,
        )
        self._seconds = Histogram(
            "lensforge_serving_request_seconds",
            "Time to answer a request, from arrival to the response.",
            ("deployment", "route"),
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._batch = Histogram(
            "lensforge_serving_batch_size",
            "Images (or protocol batch rows) per model run after dynamic batching.",
            ("deployment",),
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self._queue = Gauge(
            "lensforge_serving_queue_depth",
            "Requests waiting for the model, per deployment.",
            ("deployment",),
            registry=self.registry,
        )
        self._errors = Counter(
            "lensforge_serving_errors",
            "Refused or failed requests by stable error code.",
            ("deployment", "code"),
            registry=self.registry,
        )

    def request(self, deployment: str, route: str, status: int, seconds: float) -> None:
        self._requests.labels(deployment, route, str(status)).inc()
        self._seconds.labels(deployment, route).observe(seconds)

    def error(self, deployment: str, code: str) -> None:
        self._errors.labels(deployment, code).inc()

    def batch(self, deployment: str, size: int) -> None:
        self._batch.labels(deployment).observe(size)

    def queue_depth(self, deployment: str, depth: int) -> None:
        self._queue.labels(deployment).set(depth)

    def render(self) -> tuple[bytes, str]:
        """The exposition body and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST
