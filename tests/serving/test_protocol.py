"""The OIP v2 codec: round trips, what `tritonclient.http` really sends and parses, and a
specific error code for every malformed request."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import tritonclient.http as triton

from lensforge.serving import errors
from lensforge.serving.protocol import (
    InferenceRequest,
    RequestedOutput,
    TensorSpec,
    check_inputs,
    encode_infer_request,
    encode_infer_response,
    error_body,
    model_config,
    model_metadata,
    parse_infer_request,
    select_outputs,
    server_metadata,
)

IMAGES = TensorSpec("images", "FP32", (-1, 3, 4, 4))
OUTPUT = TensorSpec("output0", "FP32", (-1, 6, 8))
RNG = np.random.default_rng(7)


def _triton_body(inputs: list[triton.InferInput], **kwargs: Any) -> tuple[bytes, int | None]:
    body, header_length = triton.InferenceServerClient.generate_request_body(inputs, **kwargs)
    return bytes(body), header_length


def _input(name: str, array: np.ndarray[Any, Any], *, binary: bool) -> triton.InferInput:
    tensor = triton.InferInput(name, list(array.shape), triton_dtype(array))
    tensor.set_data_from_numpy(array, binary_data=binary)
    return tensor


def triton_dtype(array: np.ndarray[Any, Any]) -> str:
    from tritonclient.utils import np_to_triton_dtype

    return str(np_to_triton_dtype(array.dtype))


# --- what tritonclient sends ------------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False])
def test_tritonclient_request_parses_to_the_same_array(binary: bool) -> None:
    images = RNG.random((2, 3, 4, 4), dtype=np.float32)
    body, header_length = _triton_body([_input("images", images, binary=binary)])

    request = parse_infer_request(body, header_length=header_length)

    assert (header_length is not None) is binary
    np.testing.assert_array_equal(request.inputs["images"], images)
    assert request.inputs["images"].dtype == np.float32
    # No outputs named: tritonclient asks for every output, as binary.
    assert request.outputs is None
    assert request.binary_output is True
    assert [(o.name, o.binary) for o in select_outputs(request, [OUTPUT])] == [("output0", True)]


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.uint8).reshape(3, 4),
        np.arange(6, dtype=np.int64).reshape(2, 3) - 3,
        np.array([[True, False, True]]),
        np.linspace(-2, 2, 10).astype(np.float16),
        np.linspace(-2, 2, 10).astype(np.float64),
        np.array([-(2**31), 2**31 - 1], dtype=np.int32),
        np.array([2**64 - 1, 0], dtype=np.uint64),
    ],
    ids=["uint8", "int64", "bool", "fp16", "fp64", "int32-limits", "uint64-limits"],
)
@pytest.mark.parametrize("binary", [True, False])
def test_every_served_datatype_round_trips_from_tritonclient(
    array: np.ndarray[Any, Any], binary: bool
) -> None:
    body, header_length = _triton_body([_input("x", array, binary=binary)])
    parsed = parse_infer_request(body, header_length=header_length).inputs["x"]
    assert parsed.dtype == array.dtype
    np.testing.assert_array_equal(parsed, array)


def test_mixed_binary_and_json_inputs_named_outputs_and_id() -> None:
    first = RNG.random((1, 3, 4, 4), dtype=np.float32)
    second = np.array([[640, 480]], dtype=np.int64)
    third = RNG.integers(0, 255, (5,), dtype=np.uint8)
    outputs = [
        triton.InferRequestedOutput("output0", binary_data=False),
        triton.InferRequestedOutput("extra", binary_data=True),
    ]
    body, header_length = _triton_body(
        [
            _input("a", first, binary=True),
            _input("b", second, binary=False),
            _input("c", third, binary=True),
        ],
        outputs=outputs,
        request_id="req-42",
    )

    request = parse_infer_request(body, header_length=header_length)

    assert list(request.inputs) == ["a", "b", "c"]
    np.testing.assert_array_equal(request.inputs["a"], first)
    np.testing.assert_array_equal(request.inputs["b"], second)
    np.testing.assert_array_equal(request.inputs["c"], third)
    assert request.id == "req-42"
    assert request.outputs == [RequestedOutput("output0", False), RequestedOutput("extra", True)]


def test_header_length_as_sent_in_an_http_header_string() -> None:
    images = RNG.random((1, 3, 4, 4), dtype=np.float32)
    body, header_length = _triton_body([_input("images", images, binary=True)])
    request = parse_infer_request(body, header_length=f" {header_length}")
    np.testing.assert_array_equal(request.inputs["images"], images)


# --- what tritonclient parses -----------------------------------------------------------------


@pytest.mark.parametrize("binary", [True, False])
def test_response_is_what_tritonclient_parses(binary: bool) -> None:
    boxes = RNG.random((2, 6, 8), dtype=np.float32)
    counts = np.array([3, 1], dtype=np.int32)
    body, header_length = encode_infer_response(
        model_name="raccoon",
        model_version="3",
        request_id="abc",
        outputs=[("output0", boxes, binary), ("counts", counts, False)],
    )

    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)

    assert (header_length is not None) is binary
    np.testing.assert_array_equal(result.as_numpy("output0"), boxes)
    np.testing.assert_array_equal(result.as_numpy("counts"), counts)
    response = result.get_response()
    assert response["model_name"] == "raccoon"
    assert response["model_version"] == "3"
    assert response["id"] == "abc"


def test_our_request_encoder_matches_tritonclients_parse() -> None:
    images = RNG.random((2, 3, 4, 4), dtype=np.float32)
    for binary in (True, False):
        body, header_length = encode_infer_request({"images": images}, binary=binary)
        request = parse_infer_request(body, header_length=header_length)
        np.testing.assert_array_equal(request.inputs["images"], images)
        assert request.binary_output is True


def test_big_endian_arrays_go_out_little_endian() -> None:
    values = np.array([1.5, -2.25], dtype=">f4")
    body, header_length = encode_infer_response(model_name="m", outputs=[("y", values, True)])
    result = triton.InferenceServerClient.parse_response_body(body, header_length=header_length)
    np.testing.assert_array_equal(result.as_numpy("y"), values.astype("<f4"))


def test_request_level_binary_output_and_per_output_override() -> None:
    document = {
        "inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": [1.0]}],
        "parameters": {"binary_data_output": True},
        "outputs": [{"name": "a"}, {"name": "b", "parameters": {"binary_data": False}}],
    }
    request = parse_infer_request(json.dumps(document).encode(), header_length=None)
    assert request.outputs == [RequestedOutput("a", True), RequestedOutput("b", False)]


def test_nested_json_data_is_accepted() -> None:
    document = {
        "inputs": [{"name": "x", "shape": [2, 2], "datatype": "INT32", "data": [[1, 2], [3, 4]]}]
    }
    request = parse_infer_request(json.dumps(document).encode(), header_length=None)
    np.testing.assert_array_equal(request.inputs["x"], [[1, 2], [3, 4]])


def test_zero_element_tensor() -> None:
    document = {"inputs": [{"name": "x", "shape": [0, 3], "datatype": "INT64", "data": []}]}
    request = parse_infer_request(json.dumps(document).encode(), header_length=None)
    assert request.inputs["x"].shape == (0, 3)


# --- malformed requests: each its own code ----------------------------------------------------


def _json(document: Any) -> bytes:
    return json.dumps(document).encode()


def _one(**tensor: Any) -> bytes:
    base = {"name": "x", "shape": [2], "datatype": "FP32", "data": [1.0, 2.0]}
    base.update(tensor)
    return _json({"inputs": [{k: v for k, v in base.items() if v is not None}]})


FOUR_FLOATS = np.arange(4, dtype=np.float32).tobytes()
BINARY_HEADER = _json(
    {
        "inputs": [
            {"name": "x", "shape": [4], "datatype": "FP32", "parameters": {"binary_data_size": 16}}
        ]
    }
)


@pytest.mark.parametrize(
    ("body", "header_length", "code"),
    [
        (b"\x00\x01 not json", None, "invalid_inference_request"),
        (b"[1, 2]", None, "invalid_inference_request"),
        (_json({"inputs": []}), None, "invalid_inference_request"),
        (_json({"inputs": "x"}), None, "invalid_inference_request"),
        (_json({"id": 5, "inputs": [{}]}), None, "invalid_inference_request"),
        (_json({"parameters": [], "inputs": [{}]}), None, "invalid_inference_request"),
        (
            _json({"parameters": {"binary_data_output": "yes"}, "inputs": [{}]}),
            None,
            "invalid_inference_request",
        ),
        (_one(data=None) + b"", None, "invalid_tensor"),
        (_json({"inputs": [5]}), None, "invalid_tensor"),
        (_one(name=""), None, "invalid_tensor"),
        (_one(shape=[-2]), None, "invalid_tensor"),
        (_one(shape=[True]), None, "invalid_tensor"),
        (_one(shape=[1.5]), None, "invalid_tensor"),
        (_one(shape="2"), None, "invalid_tensor"),
        (_one(shape=[1] * 9), None, "invalid_tensor"),
        (_one(datatype="FLOAT"), None, "unsupported_datatype"),
        (_one(datatype="BYTES", data=["a", "b"]), None, "unsupported_datatype"),
        (_one(datatype="BF16"), None, "unsupported_datatype"),
        (_one(datatype=32), None, "invalid_tensor"),
        (_one(data=[1.0, 2.0, 3.0]), None, "invalid_tensor"),
        (_one(data=[1.0]), None, "invalid_tensor"),
        (_one(data=["1", "2"]), None, "invalid_tensor"),
        (_one(data=[1.0, None]), None, "invalid_tensor"),
        (_one(data=[[1.0], [2.0, 3.0]]), None, "invalid_tensor"),
        (_one(data=1.0), None, "invalid_tensor"),
        (_one(datatype="INT32", data=[1, 2.5]), None, "invalid_tensor"),
        (_one(datatype="UINT8", data=[1, 256]), None, "invalid_tensor"),
        (_one(datatype="INT8", data=[-129, 0]), None, "invalid_tensor"),
        (_one(datatype="BOOL", data=[1, 0]), None, "invalid_tensor"),
        (_one(datatype="FP32", data=[True, False]), None, "invalid_tensor"),
        (_one(datatype="INT64", data=[1, 2**70]), None, "invalid_tensor"),
        (_one(parameters={"binary_data_size": 8}), None, "invalid_tensor"),  # and data
        (_one(data=None, parameters={"binary_data_size": -1}), None, "invalid_tensor"),
        (_one(data=None, parameters={"binary_data_size": True}), None, "invalid_tensor"),
        (_one(parameters=[1]), None, "invalid_inference_request"),
        (
            _json({"inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}] * 2}),
            None,
            "invalid_inference_request",
        ),
        (
            _json(
                {
                    "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                    "outputs": {"name": "y"},
                }
            ),
            None,
            "invalid_inference_request",
        ),
        (
            _json(
                {
                    "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                    "outputs": [{"name": "y", "parameters": {"binary_data": 1}}],
                }
            ),
            None,
            "invalid_inference_request",
        ),
        (
            _json(
                {
                    "inputs": [{"name": "x", "shape": [1], "datatype": "FP32", "data": [1]}],
                    "outputs": [{}],
                }
            ),
            None,
            "invalid_inference_request",
        ),
        # The binary extension's sizes lie, one way or another.
        (BINARY_HEADER + FOUR_FLOATS, len(BINARY_HEADER) + 100, "binary_size_mismatch"),
        (BINARY_HEADER + FOUR_FLOATS[:12], len(BINARY_HEADER), "binary_size_mismatch"),
        (BINARY_HEADER + FOUR_FLOATS + b"\x00", len(BINARY_HEADER), "binary_size_mismatch"),
        (BINARY_HEADER + FOUR_FLOATS, None, "invalid_inference_request"),
        (BINARY_HEADER + FOUR_FLOATS, len(BINARY_HEADER) - 3, "invalid_inference_request"),
        (BINARY_HEADER + FOUR_FLOATS, "sixteen", "invalid_inference_request"),
        (BINARY_HEADER + FOUR_FLOATS, "-5", "invalid_inference_request"),
        (_one(data=[1.0, 2.0]) + b"\x00\x00", len(_one()), "binary_size_mismatch"),
        (
            _one(data=None, shape=[3], parameters={"binary_data_size": 8}) + b"\x00" * 8,
            len(_one(data=None, shape=[3], parameters={"binary_data_size": 8})),
            "binary_size_mismatch",
        ),
        (_one(data=None), None, "invalid_tensor"),  # neither data nor binary_data_size
    ],
)
def test_malformed_request_gets_its_code(
    body: bytes, header_length: int | str | None, code: str
) -> None:
    with pytest.raises(errors.ServingError) as caught:
        parse_infer_request(body, header_length=header_length)
    assert caught.value.code == code, caught.value.message
    assert caught.value.status_code == 400
    assert error_body(caught.value.message) == {"error": caught.value.message}


def _request(**inputs: np.ndarray[Any, Any]) -> InferenceRequest:
    return InferenceRequest(inputs=dict(inputs))


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (_request(pictures=np.zeros((1, 3, 4, 4), np.float32)), "unknown_input"),
        (
            _request(images=np.zeros((1, 3, 4, 4), np.float32), more=np.zeros((1,), np.float32)),
            "unknown_input",
        ),
        (_request(images=np.zeros((1, 3, 4, 4), np.float64)), "datatype_mismatch"),
        (_request(images=np.zeros((1, 3, 4, 4), np.uint8)), "datatype_mismatch"),
        (_request(images=np.zeros((1, 3, 5, 4), np.float32)), "shape_mismatch"),
        (_request(images=np.zeros((3, 4, 4), np.float32)), "shape_mismatch"),
    ],
)
def test_inputs_that_do_not_fit_the_model(request_: InferenceRequest, code: str) -> None:
    with pytest.raises(errors.ServingError) as caught:
        check_inputs(request_, [IMAGES])
    assert caught.value.code == code


def test_missing_input() -> None:
    second = TensorSpec("scale", "FP32", (1,))
    with pytest.raises(errors.MissingInput, match="scale"):
        check_inputs(_request(images=np.zeros((2, 3, 4, 4), np.float32)), [IMAGES, second])


def test_dynamic_batch_accepts_any_batch_size() -> None:
    for batch in (1, 7):
        check_inputs(_request(images=np.zeros((batch, 3, 4, 4), np.float32)), [IMAGES])


def test_unknown_output() -> None:
    request = _request(images=np.zeros((1, 3, 4, 4), np.float32))
    request.outputs = [RequestedOutput("boxes", True)]
    with pytest.raises(errors.UnknownOutput) as caught:
        select_outputs(request, [OUTPUT])
    assert caught.value.code == "unknown_output"


# --- metadata documents -----------------------------------------------------------------------


def test_model_metadata_keeps_dynamic_dimensions() -> None:
    document = model_metadata(name="raccoon", versions=["3"], inputs=[IMAGES], outputs=[OUTPUT])
    assert document == {
        "name": "raccoon",
        "versions": ["3"],
        "platform": "onnxruntime_onnx",
        "inputs": [{"name": "images", "datatype": "FP32", "shape": [-1, 3, 4, 4]}],
        "outputs": [{"name": "output0", "datatype": "FP32", "shape": [-1, 6, 8]}],
    }


def test_model_config_of_a_batching_model_leaves_out_the_batch_dimension() -> None:
    config = model_config(name="raccoon", inputs=[IMAGES], outputs=[OUTPUT], max_batch_size=8)
    assert config["max_batch_size"] == 8
    assert config["input"] == [
        {"name": "images", "data_type": "TYPE_FP32", "format": "FORMAT_NCHW", "dims": [3, 4, 4]}
    ]
    assert config["output"] == [{"name": "output0", "data_type": "TYPE_FP32", "dims": [6, 8]}]


def test_model_config_of_a_fixed_batch_model() -> None:
    fixed = TensorSpec("images", "FP32", (1, 3, 4, 4))
    config = model_config(name="m", inputs=[fixed], outputs=[OUTPUT], max_batch_size=8)
    assert config["max_batch_size"] == 0
    assert config["input"][0]["dims"] == [1, 3, 4, 4]
    assert config["input"][0]["format"] == "FORMAT_NONE"


def test_server_metadata_lists_the_extensions() -> None:
    document = server_metadata(name="lensforge", version="0.1.0")
    assert "binary_tensor_data" in document["extensions"]
    assert "model_configuration" in document["extensions"]
