"""Ready-to-copy calls of a deployment, shown by `lensforge deployments show` and on the
deployment's web page: one text, so that what users copy is the script the tests run."""

from __future__ import annotations

import json
import shlex


def curl_snippet(image_url: str, *, line_break: bool = False) -> str:
    """A curl call of the image API with the key from `$LENSFORGE_API_KEY`."""
    gap = " \\\n  " if line_break else " "
    return (
        f'curl -H "Authorization: Bearer $LENSFORGE_API_KEY"{gap}'
        f"-F images=@image.jpg {shlex.quote(image_url)}"
    )


def triton_snippet(v2_url: str, model_name: str, imgsz: list[int] | None) -> str:
    """A tritonclient script that runs: metadata, then one (blank) image through the model."""
    scheme, _, host = v2_url.partition("://")
    ssl = ", ssl=True" if scheme == "https" else ""
    height, width = (imgsz or [640, 640])[:2]
    model = json.dumps(model_name)
    return "\n".join(
        [
            "import numpy as np",
            "import tritonclient.http as http",
            "",
            'headers = {"Authorization": "Bearer lfk_..."}  # an API key of the deployment',
            f"client = http.InferenceServerClient({json.dumps(host.rstrip('/'))}{ssl})",
            "# tritonclient adds to the headers it is given: a copy for each call",
            f"meta = client.get_model_metadata({model}, headers=dict(headers))",
            f"tensor = np.zeros((1, 3, {height}, {width}), np.float32)  # RGB / 255, letterboxed",
            'images = http.InferInput(meta["inputs"][0]["name"], list(tensor.shape), "FP32")',
            "images.set_data_from_numpy(tensor)",
            f"result = client.infer({model}, [images], headers=dict(headers))",
            'print(result.as_numpy(meta["outputs"][0]["name"]).shape)',
        ]
    )
