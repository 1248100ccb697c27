"""ONNX Runtime loading and the warm-model pool, on real (tiny) ONNX models built in the test."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from lensforge.serving.errors import ModelLoadFailed, ModelTooLarge
from lensforge.serving.protocol import TensorSpec, model_config, model_metadata
from lensforge.serving.runtime import (
    LoadedModel,
    ModelPool,
    available_providers,
    estimate_memory,
    load_model,
)
from tests.serving.onnx_models import adder, yolo_detector

ANCHORS = np.arange(6 * 10, dtype=np.float32).reshape(6, 10)


def test_load_reads_the_signature_and_runs(tmp_path: Path) -> None:
    model = load_model(yolo_detector(tmp_path / "yolo.onnx", ANCHORS))

    assert model.signature.inputs == (TensorSpec("images", "FP32", (-1, 3, 64, 64)),)
    assert model.signature.outputs == (TensorSpec("output0", "FP32", (-1, 6, 10)),)
    assert model.providers[-1] == "CPUExecutionProvider"
    outputs = model.run({"images": np.zeros((3, 3, 64, 64), np.float32)})
    assert outputs["output0"].shape == (3, 6, 10)
    np.testing.assert_array_equal(outputs["output0"][2], ANCHORS)


def test_signature_feeds_the_protocol_documents(tmp_path: Path) -> None:
    model = load_model(yolo_detector(tmp_path / "yolo.onnx", ANCHORS, size=None))
    inputs, outputs = model.signature.inputs, model.signature.outputs

    metadata = model_metadata(name="m", inputs=inputs, outputs=outputs)
    config = model_config(name="m", inputs=inputs, outputs=outputs, max_batch_size=4)

    assert metadata["inputs"][0]["shape"] == [-1, 3, -1, -1]
    assert config["max_batch_size"] == 4
    assert config["input"][0]["dims"] == [3, -1, -1]
    assert config["input"][0]["format"] == "FORMAT_NCHW"


def test_cpu_is_always_a_provider() -> None:
    assert available_providers(prefer_gpu=False) == ["CPUExecutionProvider"]
    assert available_providers()[-1] == "CPUExecutionProvider"


@pytest.mark.parametrize("content", [b"", b"not an onnx model", b"\x08\x07" * 50])
def test_a_file_that_is_not_onnx_fails_with_a_code(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.onnx"
    path.write_bytes(content)
    with pytest.raises(ModelLoadFailed) as caught:
        load_model(path)
    assert caught.value.code == "model_load_failed"


def test_a_missing_file_fails_with_a_code(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed):
        load_model(tmp_path / "absent.onnx")


# --- the pool ---------------------------------------------------------------------------------


def _models(tmp_path: Path, count: int, weights: int = 2000) -> list[Path]:
    return [adder(tmp_path / f"m{i}.onnx", weights=weights) for i in range(count)]


def test_pool_keeps_models_warm_and_unloads_the_least_recently_used(tmp_path: Path) -> None:
    paths = _models(tmp_path, 4)
    each = estimate_memory(paths[0], 2.0)
    pool = ModelPool(budget_bytes=3 * each, memory_factor=2.0)

    first = pool.get("a", paths[0])
    pool.get("b", paths[1])
    pool.get("c", paths[2])
    assert pool.keys() == ["a", "b", "c"]
    assert pool.get("a", paths[0]) is first  # warm: the same session, and now most recent
    assert pool.keys() == ["b", "c", "a"]

    pool.get("d", paths[3])  # over budget: "b", the least recently used, goes

    assert pool.keys() == ["c", "a", "d"]
    assert pool.used_bytes <= pool.budget_bytes
    assert (pool.loads, pool.unloads) == (4, 1)
    # An unloaded model comes back on demand, pushing out the next least recently used.
    pool.get("b", paths[1])
    assert pool.keys() == ["a", "d", "b"]


def test_an_evicted_model_still_answers_its_caller(tmp_path: Path) -> None:
    paths = _models(tmp_path, 2)
    pool = ModelPool(budget_bytes=estimate_memory(paths[0], 2.0), memory_factor=2.0)
    held = pool.get("a", paths[0])
    pool.get("b", paths[1])
    assert pool.keys() == ["b"]
    result = held.run({"x": np.ones((1, 2000), np.float32)})["y"]
    assert result[0, 1] == 2.0


def test_a_model_larger_than_the_budget_is_refused(tmp_path: Path) -> None:
    (path,) = _models(tmp_path, 1)
    pool = ModelPool(budget_bytes=estimate_memory(path, 2.0) - 1, memory_factor=2.0)
    with pytest.raises(ModelTooLarge) as caught:
        pool.get("a", path)
    assert caught.value.code == "model_too_large"
    assert pool.keys() == []


def test_a_key_pointing_at_a_new_file_is_reloaded(tmp_path: Path) -> None:
    old, new = _models(tmp_path, 2)
    pool = ModelPool(budget_bytes=10**9)
    first = pool.get("deployment", old)
    second = pool.get("deployment", new)
    assert second is not first
    assert second.path == new
    assert pool.keys() == ["deployment"]


def test_unload(tmp_path: Path) -> None:
    (path,) = _models(tmp_path, 1)
    pool = ModelPool(budget_bytes=10**9)
    pool.get("a", path)
    assert pool.unload("a") is True
    assert pool.unload("a") is False
    assert pool.keys() == []


def test_concurrent_requests_load_a_model_once(tmp_path: Path) -> None:
    (path,) = _models(tmp_path, 1)
    calls: list[Path] = []
    started = threading.Event()

    def slow_loader(p: Path) -> LoadedModel:
        calls.append(p)
        started.wait(timeout=5)  # every thread is asking before the first load finishes
        return load_model(p)

    pool = ModelPool(budget_bytes=10**9, loader=slow_loader)
    got: list[LoadedModel] = []
    threads = [threading.Thread(target=lambda: got.append(pool.get("a", path))) for _ in range(8)]
    for thread in threads:
        thread.start()
    started.set()
    for thread in threads:
        thread.join(timeout=10)

    assert len(calls) == 1
    assert len(got) == 8
    assert all(model is got[0] for model in got)


def test_concurrent_use_of_many_models_stays_within_budget(tmp_path: Path) -> None:
    paths = _models(tmp_path, 6, weights=500)
    pool = ModelPool(budget_bytes=3 * estimate_memory(paths[0]))
    failures: list[BaseException] = []

    def worker(offset: int) -> None:
        try:
            for step in range(30):
                index = (offset + step) % len(paths)
                model = pool.get(f"m{index}", paths[index])
                y = model.run({"x": np.zeros((1, 500), np.float32)})["y"]
                assert y[0, 3] == 3.0
                assert pool.used_bytes <= pool.budget_bytes
        except BaseException as exc:  # reported below, in the test's thread
            failures.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(pool.keys()) <= 3


def test_a_failed_load_leaves_the_pool_working(tmp_path: Path) -> None:
    (good,) = _models(tmp_path, 1)
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not onnx")
    pool = ModelPool(budget_bytes=10**9)
    with pytest.raises(ModelLoadFailed):
        pool.get("broken", broken)
    assert pool.keys() == []
    assert pool.get("good", good).path == good


def test_tritonclient_request_through_a_real_model_and_back(tmp_path: Path) -> None:
    """What the OIP v2 route will do: tritonclient's bytes in, the model run, its bytes out."""
    import tritonclient.http as triton

    from lensforge.serving.protocol import (
        check_inputs,
        encode_infer_response,
        parse_infer_request,
        select_outputs,
    )

    model = load_model(yolo_detector(tmp_path / "yolo.onnx", ANCHORS))
    images = np.random.default_rng(3).random((2, 3, 64, 64), dtype=np.float32)
    tensor = triton.InferInput("images", [2, 3, 64, 64], "FP32")
    tensor.set_data_from_numpy(images, binary_data=True)
    body, length = triton.InferenceServerClient.generate_request_body([tensor], request_id="r1")

    request = parse_infer_request(bytes(body), header_length=length)
    check_inputs(request, model.signature.inputs)
    wanted = select_outputs(request, model.signature.outputs)
    outputs = model.run(request.inputs, [output.name for output in wanted])
    reply, reply_length = encode_infer_response(
        model_name="raccoon",
        request_id=request.id,
        outputs=[(o.name, outputs[o.name], o.binary) for o in wanted],
    )

    result = triton.InferenceServerClient.parse_response_body(reply, header_length=reply_length)
    assert reply_length is not None  # tritonclient asked for binary outputs
    assert result.get_response()["id"] == "r1"
    np.testing.assert_array_equal(result.as_numpy("output0"), np.stack([ANCHORS, ANCHORS]))
