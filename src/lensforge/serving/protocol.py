"""The Open Inference Protocol v2 (KServe "V2", Triton's HTTP API) and Triton's binary tensors.

A request body is JSON, optionally followed by raw tensor bytes: then the header
`Inference-Header-Content-Length` says how long the JSON is, and each binary input carries
`"parameters": {"binary_data_size": N}` instead of `"data"`; the bytes follow in input order,
little-endian, row-major, unpadded. This is what `tritonclient.http` sends by default.

    length = headers.get("inference-header-content-length")
    request = parse_infer_request(body, header_length=length)
    check_inputs(request, signature.inputs)             # names, datatypes and shapes
    wanted = select_outputs(request, signature.outputs)  # [(name, binary)]
    body, length = encode_infer_response(model_name="m", outputs=[...], request_id=request.id)

Everything the client got wrong raises a `ServingError` with a stable `code` (see
`lensforge.serving.errors`); the HTTP layer answers 400 with `{"error": message}` as the
protocol says. Only numeric and BOOL tensors are served: ONNX vision models take no strings
(BYTES) and BF16 has no numpy type, so both are `unsupported_datatype`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lensforge.serving.errors import (
    BinarySizeMismatch,
    DatatypeMismatch,
    InvalidInferenceRequest,
    InvalidTensor,
    MissingInput,
    ShapeMismatch,
    UnknownInput,
    UnknownOutput,
    UnsupportedDatatype,
)

HEADER_LENGTH = "Inference-Header-Content-Length"
# Protocol datatype -> numpy dtype, little-endian as the binary extension requires.
DATATYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype("?"),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
KNOWN_UNSERVED = ("BYTES", "BF16")
# A tensor of more dimensions than this is not an image model's; refusing early keeps a hostile
# shape (a million dimensions) from costing anything.
MAX_RANK = 8
SERVER_EXTENSIONS = ("binary_tensor_data", "model_configuration")


@dataclass(frozen=True)
class TensorSpec:
    """A model input or output: `shape` has -1 for each dynamic dimension (the batch, usually)."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def accepts(self, shape: Sequence[int]) -> bool:
        return len(shape) == len(self.shape) and all(
            want in (-1, got) for want, got in zip(self.shape, shape, strict=True)
        )


@dataclass(frozen=True)
class RequestedOutput:
    name: str
    binary: bool


@dataclass
class InferenceRequest:
    """A parsed request: `inputs` in the order sent; `outputs` None means every output."""

    inputs: dict[str, np.ndarray[Any, Any]]
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    outputs: list[RequestedOutput] | None = None
    binary_output: bool = False  # the request-level `binary_data_output`


# --- requests ---------------------------------------------------------------------------------


def parse_header_length(value: str | None) -> int | None:
    """The `Inference-Header-Content-Length` header's value, checked."""
    if value is None:
        return None
    text = value.strip()
    if not text.isdigit():
        raise InvalidInferenceRequest(
            f"{HEADER_LENGTH} must be a non-negative integer, got {value!r}"
        )
    return int(text)


def parse_infer_request(body: bytes, *, header_length: int | str | None) -> InferenceRequest:
    """`body` (JSON, then any binary tensors) as arrays of the declared datatypes and shapes."""
    if isinstance(header_length, str):
        header_length = parse_header_length(header_length)
    if header_length is None:
        header, binary = body, b""
    else:
        if header_length > len(body):
            raise BinarySizeMismatch(
                f"{HEADER_LENGTH} is {header_length} but the body has only {len(body)} bytes"
            )
        header, binary = body[:header_length], body[header_length:]
    document = _load_json(header)
    if not isinstance(document, dict):
        raise InvalidInferenceRequest("the inference request must be a JSON object")
    request_id = document.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidInferenceRequest("id must be a string")
    parameters = _parameters(document.get("parameters"), "parameters")
    binary_output = parameters.get("binary_data_output", False)
    if not isinstance(binary_output, bool):
        raise InvalidInferenceRequest("parameters.binary_data_output must be a boolean")
    raw_inputs = document.get("inputs")
    if not isinstance(raw_inputs, list) or not raw_inputs:
        raise InvalidInferenceRequest("inputs must be a non-empty list of tensors")
    inputs: dict[str, np.ndarray[Any, Any]] = {}
    offset = 0
    for index, raw in enumerate(raw_inputs):
        name, array, offset = _parse_input(raw, f"inputs.{index}", binary, offset)
        if name in inputs:
            raise InvalidInferenceRequest(f"input {name!r} is given twice")
        inputs[name] = array
    if offset != len(binary):
        raise BinarySizeMismatch(
            f"the body has {len(binary) - offset} bytes after the tensors it declares"
        )
    return InferenceRequest(
        inputs=inputs,
        id=request_id,
        parameters=parameters,
        outputs=_requested_outputs(document.get("outputs"), binary_output),
        binary_output=binary_output,
    )


def _load_json(header: bytes) -> Any:
    try:
        return json.loads(header)
    except (UnicodeDecodeError, ValueError):
        raise InvalidInferenceRequest(
            "the inference request header is not valid JSON (binary tensors need the "
            f"{HEADER_LENGTH} header)"
        ) from None


def _parameters(value: Any, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise InvalidInferenceRequest(f"{where} must be an object")
    return value


def _datatype(value: Any, where: str) -> np.dtype[Any]:
    if not isinstance(value, str):
        raise InvalidTensor(f"{where}.datatype must be a string")
    dtype = DATATYPES.get(value)
    if dtype is None:
        if value in KNOWN_UNSERVED:
            raise UnsupportedDatatype(f"{where}: datatype {value} is not served (numeric only)")
        raise UnsupportedDatatype(
            f"{where}: unknown datatype {value!r}; one of {', '.join(DATATYPES)}"
        )
    return dtype


def _shape(value: Any, where: str) -> tuple[int, ...]:
    if not isinstance(value, list) or len(value) > MAX_RANK:
        raise InvalidTensor(f"{where}.shape must be a list of at most {MAX_RANK} sizes")
    for size in value:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidTensor(f"{where}.shape must hold non-negative integers, got {value}")
    return tuple(value)


def _parse_input(
    raw: Any, where: str, binary: bytes, offset: int
) -> tuple[str, np.ndarray[Any, Any], int]:
    if not isinstance(raw, dict):
        raise InvalidTensor(f"{where} must be an object")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidTensor(f"{where}.name must be a non-empty string")
    where = f"input {name!r}"
    dtype = _datatype(raw.get("datatype"), where)
    shape = _shape(raw.get("shape"), where)
    count = math.prod(shape)
    parameters = _parameters(raw.get("parameters"), f"{where}.parameters")
    size = parameters.get("binary_data_size")
    if size is not None:
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise InvalidTensor(f"{where}: binary_data_size must be a non-negative integer")
        if "data" in raw:
            raise InvalidTensor(f"{where} has both data and binary_data_size")
        expected = count * dtype.itemsize
        if size != expected:
            raise BinarySizeMismatch(
                f"{where}: binary_data_size is {size} bytes, shape {list(shape)} of "
                f"{raw['datatype']} needs {expected}"
            )
        if offset + size > len(binary):
            raise BinarySizeMismatch(
                f"{where}: declares {size} bytes but only {len(binary) - offset} remain in the body"
            )
        array = np.frombuffer(binary, dtype=dtype, count=count, offset=offset).reshape(shape)
        return name, array, offset + size
    if "data" not in raw:
        raise InvalidTensor(f"{where} has neither data nor binary_data_size")
    return name, _json_tensor(raw["data"], dtype, shape, count, where), offset


# Which kinds of JSON numbers each numpy kind accepts: an integer tensor takes no 1.5, a float
# tensor takes integers (JSON has one number type), BOOL takes only true/false.
_ACCEPTED_KINDS = {"b": "b", "u": "iu", "i": "iu", "f": "iuf"}


def _json_tensor(
    data: Any, dtype: np.dtype[Any], shape: tuple[int, ...], count: int, where: str
) -> np.ndarray[Any, Any]:
    if not isinstance(data, list):
        raise InvalidTensor(f"{where}: data must be a list (flat or nested)")
    try:
        values = np.array(data)
    except (ValueError, OverflowError):
        raise InvalidTensor(f"{where}: data is ragged or holds values out of range") from None
    if values.size != count:
        raise InvalidTensor(
            f"{where}: data has {values.size} values, shape {list(shape)} needs {count}"
        )
    if count and dtype.kind in "iu" and values.dtype.kind in "fO":
        # numpy guessed float (2**64 - 1) or object (beyond int64) for large integers; check
        # them as Python ints instead, exactly.
        values = _exact_integers(values.size, data, dtype, where)
    if count and values.dtype.kind not in _ACCEPTED_KINDS[dtype.kind]:
        raise InvalidTensor(
            f"{where}: data must hold {'booleans' if dtype.kind == 'b' else 'numbers'} only"
        )
    if count and dtype.kind in "iu":
        limits = np.iinfo(dtype)
        if int(values.min()) < limits.min or int(values.max()) > limits.max:
            raise InvalidTensor(f"{where}: a value is out of range for {dtype.name}")
    return values.astype(dtype).reshape(shape)


def _exact_integers(
    count: int, data: Any, dtype: np.dtype[Any], where: str
) -> np.ndarray[Any, Any]:
    flat = np.array(data, dtype=object).ravel().tolist()
    if len(flat) != count or not all(type(value) is int for value in flat):
        raise InvalidTensor(f"{where}: data must hold integers only")
    limits = np.iinfo(dtype)
    if min(flat) < limits.min or max(flat) > limits.max:
        raise InvalidTensor(f"{where}: a value is out of range for {dtype.name}")
    return np.array(flat, dtype=dtype)


def _requested_outputs(value: Any, binary_default: bool) -> list[RequestedOutput] | None:
    if value is None:
        return None
    if not isinstance(value, list):
        raise InvalidInferenceRequest("outputs must be a list")
    outputs = []
    for index, raw in enumerate(value):
        if not isinstance(raw, dict) or not isinstance(raw.get("name"), str):
            raise InvalidInferenceRequest(f"outputs.{index} must be an object with a name")
        parameters = _parameters(raw.get("parameters"), f"outputs.{index}.parameters")
        binary = parameters.get("binary_data", binary_default)
        if not isinstance(binary, bool):
            raise InvalidInferenceRequest(
                f"outputs.{index}.parameters.binary_data must be a boolean"
            )
        outputs.append(RequestedOutput(raw["name"], binary))
    return outputs


def check_inputs(request: InferenceRequest, specs: Sequence[TensorSpec]) -> None:
    """The request's inputs are exactly the model's, of its datatypes and shapes."""
    by_name = {spec.name: spec for spec in specs}
    for name, array in request.inputs.items():
        spec = by_name.get(name)
        if spec is None:
            raise UnknownInput(f"the model has no input {name!r}; its inputs: {', '.join(by_name)}")
        datatype = datatype_of(array.dtype)
        if datatype != spec.datatype:
            raise DatatypeMismatch(f"input {name!r} must be {spec.datatype}, got {datatype}")
        if not spec.accepts(array.shape):
            raise ShapeMismatch(
                f"input {name!r} must have shape {list(spec.shape)} (-1: any size), "
                f"got {list(array.shape)}"
            )
    missing = [name for name in by_name if name not in request.inputs]
    if missing:
        raise MissingInput(f"missing input(s): {', '.join(missing)}")


def select_outputs(request: InferenceRequest, specs: Sequence[TensorSpec]) -> list[RequestedOutput]:
    """The outputs to return and whether each goes as binary; every output when none is named."""
    if request.outputs is None:
        return [RequestedOutput(spec.name, request.binary_output) for spec in specs]
    names = {spec.name for spec in specs}
    for output in request.outputs:
        if output.name not in names:
            raise UnknownOutput(
                f"the model has no output {output.name!r}; its outputs: {', '.join(sorted(names))}"
            )
    return request.outputs


def datatype_of(dtype: np.dtype[Any]) -> str:
    for name, known in DATATYPES.items():
        if known.kind == dtype.kind and known.itemsize == dtype.itemsize:
            return name
    raise UnsupportedDatatype(f"numpy dtype {dtype} has no protocol datatype")


def encode_infer_request(
    inputs: Mapping[str, np.ndarray[Any, Any]],
    *,
    binary: bool = True,
    outputs: Sequence[RequestedOutput] | None = None,
    request_id: str | None = None,
) -> tuple[bytes, int | None]:
    """A request body the way `tritonclient.http` writes it (for our own client and tests)."""
    blobs: list[bytes] = []
    tensors = [_tensor(name, array, binary, blobs) for name, array in inputs.items()]
    document: dict[str, Any] = {"inputs": tensors}
    if request_id is not None:
        document["id"] = request_id
    if outputs is None:
        document["parameters"] = {"binary_data_output": True}
    else:
        document["outputs"] = [
            {"name": output.name, "parameters": {"binary_data": output.binary}}
            for output in outputs
        ]
    return _join(document, blobs)


# --- responses --------------------------------------------------------------------------------


def encode_infer_response(
    *,
    model_name: str,
    outputs: Sequence[tuple[str, np.ndarray[Any, Any], bool]],
    model_version: str | None = None,
    request_id: str | None = None,
) -> tuple[bytes, int | None]:
    """The response body for `outputs` (name, array, binary?) and, when any output is binary,
    the value of the `Inference-Header-Content-Length` header (else None: the body is JSON)."""
    blobs: list[bytes] = []
    tensors = [_tensor(name, array, binary, blobs) for name, array, binary in outputs]
    document: dict[str, Any] = {"model_name": model_name}
    if model_version is not None:
        document["model_version"] = model_version
    # A sent id must be echoed; tritonclient reads "id" whether or not it sent one.
    document["id"] = request_id or ""
    document["outputs"] = tensors
    return _join(document, blobs)


def _tensor(
    name: str, array: np.ndarray[Any, Any], binary: bool, blobs: list[bytes]
) -> dict[str, Any]:
    """One tensor of a request or response: its data inline as JSON, or (binary) its bytes
    appended to `blobs` and only their size in the document, as Triton's extension has it."""
    tensor: dict[str, Any] = {
        "name": name,
        "shape": list(array.shape),
        "datatype": datatype_of(array.dtype),
    }
    if binary:
        blob = _little_endian(array).tobytes()
        tensor["parameters"] = {"binary_data_size": len(blob)}
        blobs.append(blob)
    else:
        tensor["data"] = array.ravel().tolist()
    return tensor


def _little_endian(array: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    return np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))


def _join(document: dict[str, Any], blobs: list[bytes]) -> tuple[bytes, int | None]:
    header = json.dumps(document, separators=(",", ":")).encode()
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def error_body(message: str) -> dict[str, str]:
    """The protocol's error body; tritonclient raises `InferenceServerException(body["error"])`."""
    return {"error": message}


# --- metadata documents -----------------------------------------------------------------------


def server_metadata(*, name: str, version: str) -> dict[str, Any]:
    return {"name": name, "version": version, "extensions": list(SERVER_EXTENSIONS)}


def _tensor_metadata(spec: TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "datatype": spec.datatype, "shape": list(spec.shape)}


def model_metadata(
    *,
    name: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    versions: Sequence[str] = (),
    platform: str = "onnxruntime_onnx",
) -> dict[str, Any]:
    """`GET /v2/models/{m}`: the signature, -1 for each dynamic dimension."""
    document: dict[str, Any] = {"name": name}
    if versions:
        document["versions"] = list(versions)
    document["platform"] = platform
    document["inputs"] = [_tensor_metadata(spec) for spec in inputs]
    document["outputs"] = [_tensor_metadata(spec) for spec in outputs]
    return document


def batches(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bool:
    """Whether the model batches: every tensor's first dimension is dynamic."""
    tensors = [*inputs, *outputs]
    return bool(tensors) and all(spec.shape and spec.shape[0] == -1 for spec in tensors)


def _config_tensor(spec: TensorSpec, batching: bool, *, is_input: bool) -> dict[str, Any]:
    dims = list(spec.shape[1:] if batching else spec.shape)
    tensor: dict[str, Any] = {"name": spec.name, "data_type": f"TYPE_{spec.datatype}"}
    if is_input:
        tensor["format"] = _image_format(dims)
    tensor["dims"] = dims
    return tensor


def _image_format(dims: list[int]) -> str:
    # Triton's image_client.py reads the format to lay out its images; a 3-dimensional input
    # with 1 or 3 channels first is the NCHW image every exported vision model takes.
    if len(dims) == 3 and dims[0] in (1, 3):
        return "FORMAT_NCHW"
    if len(dims) == 3 and dims[2] in (1, 3):
        return "FORMAT_NHWC"
    return "FORMAT_NONE"


def model_config(
    *,
    name: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    max_batch_size: int,
    platform: str = "onnxruntime_onnx",
) -> dict[str, Any]:
    """`GET /v2/models/{m}/config`: Triton's ModelConfig as JSON. When the model batches (and
    `max_batch_size` > 0), `dims` leave out the batch dimension, as in Triton; otherwise
    `max_batch_size` is 0 and `dims` are the full shapes."""
    batching = max_batch_size > 0 and batches(inputs, outputs)
    return {
        "name": name,
        "platform": platform,
        "backend": "onnxruntime",
        "max_batch_size": max_batch_size if batching else 0,
        "input": [_config_tensor(spec, batching, is_input=True) for spec in inputs],
        "output": [_config_tensor(spec, batching, is_input=False) for spec in outputs],
    }


__all__ = [
    "DATATYPES",
    "HEADER_LENGTH",
    "InferenceRequest",
    "RequestedOutput",
    "TensorSpec",
    "check_inputs",
    "datatype_of",
    "encode_infer_request",
    "encode_infer_response",
    "error_body",
    "model_config",
    "model_metadata",
    "parse_header_length",
    "parse_infer_request",
    "select_outputs",
    "server_metadata",
]
