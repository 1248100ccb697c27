"""What the API tells users the Ultralytics trainer can do (from its manifest)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.fixtures.app import sign_up


def test_capabilities_list_the_exports_with_options_and_the_unavailable_ones_with_reasons(
    client: TestClient,
) -> None:
    account = sign_up(client)
    response = client.get("/api/v1/models/capabilities", headers=account.headers)
    assert response.status_code == 200, response.text
    trainer = next(t for t in response.json()["trainers"] if t["name"] == "ultralytics")
    assert (trainer["resume"], trainer["predict"]) == (True, True)
    assert set(trainer["tasks"]) == {"detection", "segmentation", "classification", "pose"}
    formats = {f["format"]: f for f in trainer["export_formats"]}
    for name in ("onnx", "torchscript", "openvino"):
        assert formats[name]["available"] is True
    onnx_options = formats["onnx"]["options_schema"]["properties"]
    assert {"opset", "dynamic", "half", "nms", "simplify", "imgsz"} <= set(onnx_options)
    assert onnx_options["opset"]["maximum"] == 20
    for name in ("tflite", "coreml", "engine"):
        assert formats[name]["available"] is False
        assert formats[name]["reason"]
