"""The deployment page's "try it" form: a few images through the deployment's current version,
answered by the API server itself with the serving process's own code (model files, warm pool,
pre- and post-processing), so the page works without an API key or a reachable serving port.

Metered like any prediction (route `ui`), straight into `usage_records` in the request's
transaction. The pool here is small: the form is for a look, not for traffic.
"""

from __future__ import annotations

import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from PIL import Image
from sqlalchemy.orm import Session

from lensforge.config import Settings
from lensforge.errors import Conflict, LensforgeError
from lensforge.inference.render import render_jpeg_base64
from lensforge.inference.results import ImageResult
from lensforge.kit.types import utcnow
from lensforge.models import Deployment, DeploymentVersion, UsageRecord
from lensforge.serve.app import model_cache_dir
from lensforge.serve.model_files import ModelFiles
from lensforge.serving.errors import ServingError
from lensforge.serving.images import decode_image
from lensforge.serving.pipeline import ModelCard, onnx_metadata, postprocess, preprocess
from lensforge.serving.runtime import ModelPool
from lensforge.storage.base import ObjectStore

MAX_TRY_IMAGES = 4
_POOL_BUDGET = 1024**3


class ServingRefused(LensforgeError):
    """A serving refusal (not an image, too large, ...) as the API's error, same status and code."""

    def __init__(self, error: ServingError) -> None:
        super().__init__(error.message, code=error.code)
        self.status_code = error.status_code


@dataclass(frozen=True)
class TryImage:
    name: str
    data: bytes


@dataclass
class TryAnswer:
    request_id: uuid.UUID
    version: int
    results: list[ImageResult]
    rendered: list[str]


class TryIt:
    """One per API server process, made on first use."""

    _instance: TryIt | None = None
    _guard = threading.Lock()

    def __init__(self, settings: Settings, store: ObjectStore) -> None:
        self._files = ModelFiles(store, model_cache_dir(settings))
        self._pool = ModelPool(min(_POOL_BUDGET, settings.serving.model_memory_budget_bytes))
        self._max_pixels = settings.serving.max_image_pixels

    @classmethod
    def shared(cls, settings: Settings, store: ObjectStore) -> TryIt:
        with cls._guard:
            if cls._instance is None:
                cls._instance = cls(settings, store)
            return cls._instance

    def predict(
        self,
        session: Session,
        deployment: Deployment,
        version: DeploymentVersion | None,
        images: list[TryImage],
        *,
        conf: float | None,
        render_images: bool,
        api_key_id: uuid.UUID | None,
    ) -> TryAnswer:
        if not deployment.active:
            raise Conflict("the deployment is inactive", code="deployment_inactive")
        if version is None or version.status != "ready" or not version.artifact_key:
            raise Conflict(
                f"the deployment is {deployment.status}: no version answers yet",
                code="deployment_not_ready",
            )
        began = time.perf_counter()
        request_id = uuid.uuid4()
        status, code, answer = 200, None, None
        compute_ms = 0.0
        try:
            answer, compute_ms = self._run(deployment, version, images, conf, render_images)
        except ServingError as exc:
            status, code = exc.status_code, exc.code
            raise ServingRefused(exc) from None
        finally:
            session.add(
                UsageRecord(
                    request_id=request_id,
                    organization_id=deployment.organization_id,
                    project_id=deployment.project_id,
                    deployment_id=deployment.id,
                    deployment_name=deployment.name,
                    version=version.number,
                    api_key_id=api_key_id,
                    route="ui",
                    status=status,
                    error_code=code,
                    images=len(images),
                    bytes_in=sum(len(image.data) for image in images),
                    compute_ms=compute_ms,
                    total_ms=(time.perf_counter() - began) * 1000.0,
                    batch_size=len(images) if status == 200 else 0,
                    created_at=utcnow(),
                )
            )
            if status != 200:
                # The refusal rolls the request back; its meter reading must stay.
                session.commit()
        assert answer is not None
        results, rendered = answer
        return TryAnswer(request_id, version.number, results, rendered)

    def _run(
        self,
        deployment: Deployment,
        version: DeploymentVersion,
        images: list[TryImage],
        conf: float | None,
        render_images: bool,
    ) -> tuple[tuple[list[ImageResult], list[str]], float]:
        assert version.artifact_key is not None
        path = self._files.path(version.artifact_key, version.sha256)
        model = self._pool.get(f"{deployment.id}@{version.number}", path)
        card = ModelCard.build(
            task=version.task,
            class_names=version.class_names,
            model_info=version.model_info,
            inputs=model.signature.inputs,
            metadata=onnx_metadata(model.session),
        )
        parameters: dict[str, Any] = dict(deployment.parameters or {})
        threshold = conf if conf is not None else float(parameters.get("conf", 0.25))
        names = [spec.name for spec in model.signature.outputs]
        results: list[ImageResult] = []
        rendered: list[str] = []
        compute_ms = 0.0
        for image in images:
            pixels = decode_image(image.data, max_pixels=self._max_pixels)
            tensor, contexts = preprocess([pixels], card, names=[image.name])
            started = time.perf_counter()
            outputs = model.run({card.input_name: tensor})
            elapsed = (time.perf_counter() - started) * 1000.0
            compute_ms += elapsed
            (result,) = postprocess(
                [outputs[name] for name in names],
                contexts,
                card,
                conf=threshold,
                iou=float(parameters.get("iou", 0.7)),
                max_det=int(parameters.get("max_det", 300)),
                inference_ms=elapsed,
            )
            results.append(result)
            if render_images:
                rendered.append(render_jpeg_base64(Image.fromarray(pixels), result))
        return (results, rendered), compute_ms
