"""Serving: answering predictions from exported models, without a training framework.

The foundation of issue 14, pure and free of the server: `protocol` (the Open Inference
Protocol v2 with Triton's binary tensor extension), `runtime` (ONNX Runtime sessions in a pool
bounded by a memory budget), `images` (safe decoding) and `vision` (the trainers' pre- and
post-processing, producing the platform's result schema). The HTTP routes, deployments, keys and
metering build on these. See docs/serving.md.
"""
