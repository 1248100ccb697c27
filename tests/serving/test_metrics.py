"""Prometheus metrics of a serving replica, read back from the exposition text."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from lensforge.serving.metrics import ServingMetrics


def _samples(metrics: ServingMetrics) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    body, _ = metrics.render()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
    }


def test_requests_latency_batches_queue_and_errors_are_exposed() -> None:
    metrics = ServingMetrics()
    metrics.request("cats", "image", 200, 0.004)
    metrics.request("cats", "image", 200, 0.3)
    metrics.request("cats", "v2", 429, 0.0005)
    metrics.error("cats", "rate_limited")
    metrics.batch("cats", 3)
    metrics.batch("cats", 8)
    metrics.queue_depth("cats", 5)
    metrics.queue_depth("cats", 2)
    samples = _samples(metrics)

    def value(name: str, **labels: str) -> float:
        return samples[(name, tuple(sorted(labels.items())))]

    requests = "lensforge_serving_requests_total"
    assert value(requests, deployment="cats", route="image", status="200") == 2
    assert value(requests, deployment="cats", route="v2", status="429") == 1
    seconds = "lensforge_serving_request_seconds"
    assert value(f"{seconds}_count", deployment="cats", route="image") == 2
    assert value(f"{seconds}_bucket", deployment="cats", route="image", le="0.001") == 0
    assert value(f"{seconds}_bucket", deployment="cats", route="image", le="0.005") == 1
    assert value(f"{seconds}_bucket", deployment="cats", route="image", le="10.0") == 2
    assert value(f"{seconds}_bucket", deployment="cats", route="v2", le="0.001") == 1
    assert value("lensforge_serving_batch_size_sum", deployment="cats") == 11
    assert value("lensforge_serving_batch_size_bucket", deployment="cats", le="4.0") == 1
    assert value("lensforge_serving_queue_depth", deployment="cats") == 2
    assert value("lensforge_serving_errors_total", deployment="cats", code="rate_limited") == 1


def test_render_gives_the_prometheus_text_format() -> None:
    body, content_type = ServingMetrics().render()
    assert content_type.startswith("text/plain; version=")
    assert b"# TYPE lensforge_serving_requests_total counter" in body


def test_each_instance_has_its_own_registry() -> None:
    first, second = ServingMetrics(), ServingMetrics()
    first.request("cats", "image", 200, 0.01)
    assert not any(name == "lensforge_serving_requests_total" for name, _ in _samples(second))
