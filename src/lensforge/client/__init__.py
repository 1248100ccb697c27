"""The Python client of the Lensforge API (also what the `lensforge` CLI talks through).

    from lensforge.client import LensforgeClient, NotFoundError

    with LensforgeClient("http://127.0.0.1:8000", api_key="lfk_...") as client:
        print(client.auth.me().user.email)
        for project in client.projects.iter():
            print(project.name)

Calls are grouped by noun: `client.auth`, `client.organizations`, `client.projects`,
`client.api_keys`, `client.uploads`, `client.datasets`, `client.trainers`, `client.jobs`,
`client.exports`, `client.inference`, `client.models`, `client.deployments`. Responses are
frozen pydantic models
(`lensforge.client.models`, `lensforge.client.dataset_models`, `lensforge.client.job_models`,
`lensforge.client.model_work_models`, `lensforge.client.deployment_models`).

    dataset = client.datasets.create(project.id, "parts", "detection")
    done = client.datasets.import_file(dataset.id, project.id, "parts-yolo.zip")
    if not done.succeeded:
        for issue in done.report.errors if done.report else []:
            print(issue.file, issue.line, issue.message)
    client.datasets.download_export(dataset.id, done.version_number, "coco", "exports/")

    job = client.jobs.create(project.id, dataset.id, "reference", "linear",
                             config={"basic": {"epochs": 3}})
    with client.jobs.stream_events(job.id) as events:
        for event in events:          # job_status, training_progress, log, checkpoint
            print(event.type, event.data)
    finished = client.jobs.wait(job.id)
    points = client.jobs.metrics(job.id)

Testing and exporting a trained model:

    answer = client.inference.predict(job.id, ["cat.jpg"], conf=0.25)
    for result in answer.results or []:
        for found in result.detections or []:
            print(found.class_name, found.score, found.box)
    export = client.exports.wait(client.exports.create(job.id, "onnx", options={"opset": 17}).id)
    if export.succeeded:
        client.exports.download(export.id, "model.onnx")   # size and sha256 checked

Serving a model as a live endpoint, and calling it with the client's credentials:

    deployment = client.deployments.create("parts", job_id=job.id)   # exported on the way
    deployment = client.deployments.wait_ready(deployment.id)
    answer = client.deployments.infer("parts", ["cat.jpg"], conf=0.3, render=True)
    print(answer.results[0].detections, len(answer.rendered_images()))

`LensforgeClient.from_config()` reuses the login saved by `lensforge login`.

Errors. Every exception the client raises derives from `LensforgeError`, which carries
`status_code` (None without a response), `code` (the server's stable code, e.g.
`project_not_found`, `token_expired`, `api_key_revoked`), `message` and `details`:

    LensforgeError
    ├── ConnectionFailed        the server could not be reached or timed out (no status code)
    ├── InvalidResponse         a 2xx body this client does not understand (version skew)
    ├── UploadFailed            the local file changed during an upload, or checksums differ
    └── APIError                any error status; those below have their own class
        ├── AuthenticationError 401: missing, wrong, expired or revoked credentials
        ├── PermissionDenied    403: your role or the API key's scopes forbid the action
        ├── NotFoundError       404: no such resource, or not visible to you
        ├── ConflictError       409: clashes with existing state (taken name, already member)
        ├── ValidationError     422: invalid input; `.fields` lists FieldError(field, message)
        └── ServerError         5xx: the server or a proxy failed; safe to retry idempotent calls

An expired access token is refreshed once, transparently, when the client holds a refresh
token; only when that fails does the caller see `AuthenticationError`.
"""

# The names below are imported on first use (PEP 562), not with the package: a command or
# script that only lists projects then skips the models of datasets, jobs and exports and the
# WebSocket client (the CLI's start-up time; benchmarks/cli_startup.py).
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lensforge.client._client import LensforgeClient
    from lensforge.client._events import EventStream
    from lensforge.client.dataset_models import (
        Dataset,
        DatasetImport,
        DatasetItem,
        DatasetVersion,
        ExportDownload,
        FolderSource,
        ImportIssue,
        ImportReport,
        ImportSource,
        S3Source,
        SplitConfig,
        UploadSource,
        VersionDiff,
        VersionStats,
    )
    from lensforge.client.deployment_models import (
        Deployment,
        DeploymentStats,
        DeploymentUrls,
        DeploymentVersion,
        InferAnswer,
        StatsPoint,
        Usage,
        UsageRow,
    )
    from lensforge.client.errors import (
        APIError,
        AuthenticationError,
        ConflictError,
        ConnectionFailed,
        FieldError,
        InvalidResponse,
        LensforgeError,
        NotFoundError,
        PermissionDenied,
        ServerError,
        UploadFailed,
        ValidationError,
    )
    from lensforge.client.job_models import (
        Attempt,
        Checkpoint,
        ConfigSchema,
        ConfigValidation,
        Job,
        JobDetail,
        JobEvent,
        LogLine,
        MetricPoint,
        MetricSeries,
        Resources,
        Trainer,
        TrainerCapabilities,
        TrainerManifest,
        TrainerModel,
        Transition,
    )
    from lensforge.client.model_work_models import (
        Capabilities,
        Classification,
        Detection,
        ExportFormat,
        ImageResult,
        InferenceImage,
        InferenceParams,
        InferenceRun,
        LatencyStats,
        ModelArtifact,
        ModelExport,
        ModelExportLink,
        Prediction,
        TrainerModelWork,
        VerificationReport,
    )
    from lensforge.client.models import (
        ApiKey,
        CreatedApiKey,
        Invitation,
        Me,
        Member,
        Membership,
        MyInvitation,
        Organization,
        Page,
        Project,
        ProjectMember,
        SignupResult,
        TokenPair,
        UploadPart,
        UploadSession,
        User,
    )

_EXPORTS: dict[str, str] = {
    "LensforgeClient": "lensforge.client._client",
    "EventStream": "lensforge.client._events",
    "Dataset": "lensforge.client.dataset_models",
    "DatasetImport": "lensforge.client.dataset_models",
    "DatasetItem": "lensforge.client.dataset_models",
    "DatasetVersion": "lensforge.client.dataset_models",
    "ExportDownload": "lensforge.client.dataset_models",
    "FolderSource": "lensforge.client.dataset_models",
    "ImportIssue": "lensforge.client.dataset_models",
    "ImportReport": "lensforge.client.dataset_models",
    "ImportSource": "lensforge.client.dataset_models",
    "S3Source": "lensforge.client.dataset_models",
    "SplitConfig": "lensforge.client.dataset_models",
    "UploadSource": "lensforge.client.dataset_models",
    "VersionDiff": "lensforge.client.dataset_models",
    "VersionStats": "lensforge.client.dataset_models",
    "Deployment": "lensforge.client.deployment_models",
    "DeploymentStats": "lensforge.client.deployment_models",
    "DeploymentUrls": "lensforge.client.deployment_models",
    "DeploymentVersion": "lensforge.client.deployment_models",
    "InferAnswer": "lensforge.client.deployment_models",
    "StatsPoint": "lensforge.client.deployment_models",
    "Usage": "lensforge.client.deployment_models",
    "UsageRow": "lensforge.client.deployment_models",
    "APIError": "lensforge.client.errors",
    "AuthenticationError": "lensforge.client.errors",
    "ConflictError": "lensforge.client.errors",
    "ConnectionFailed": "lensforge.client.errors",
    "FieldError": "lensforge.client.errors",
    "InvalidResponse": "lensforge.client.errors",
    "LensforgeError": "lensforge.client.errors",
    "NotFoundError": "lensforge.client.errors",
    "PermissionDenied": "lensforge.client.errors",
    "ServerError": "lensforge.client.errors",
    "UploadFailed": "lensforge.client.errors",
    "ValidationError": "lensforge.client.errors",
    "Attempt": "lensforge.client.job_models",
    "Checkpoint": "lensforge.client.job_models",
    "ConfigSchema": "lensforge.client.job_models",
    "ConfigValidation": "lensforge.client.job_models",
    "Job": "lensforge.client.job_models",
    "JobDetail": "lensforge.client.job_models",
    "JobEvent": "lensforge.client.job_models",
    "LogLine": "lensforge.client.job_models",
    "MetricPoint": "lensforge.client.job_models",
    "MetricSeries": "lensforge.client.job_models",
    "Resources": "lensforge.client.job_models",
    "Trainer": "lensforge.client.job_models",
    "TrainerCapabilities": "lensforge.client.job_models",
    "TrainerManifest": "lensforge.client.job_models",
    "TrainerModel": "lensforge.client.job_models",
    "Transition": "lensforge.client.job_models",
    "Capabilities": "lensforge.client.model_work_models",
    "Classification": "lensforge.client.model_work_models",
    "Detection": "lensforge.client.model_work_models",
    "ExportFormat": "lensforge.client.model_work_models",
    "ImageResult": "lensforge.client.model_work_models",
    "InferenceImage": "lensforge.client.model_work_models",
    "InferenceParams": "lensforge.client.model_work_models",
    "InferenceRun": "lensforge.client.model_work_models",
    "LatencyStats": "lensforge.client.model_work_models",
    "ModelArtifact": "lensforge.client.model_work_models",
    "ModelExport": "lensforge.client.model_work_models",
    "ModelExportLink": "lensforge.client.model_work_models",
    "Prediction": "lensforge.client.model_work_models",
    "TrainerModelWork": "lensforge.client.model_work_models",
    "VerificationReport": "lensforge.client.model_work_models",
    "ApiKey": "lensforge.client.models",
    "CreatedApiKey": "lensforge.client.models",
    "Me": "lensforge.client.models",
    "Member": "lensforge.client.models",
    "Invitation": "lensforge.client.models",
    "Membership": "lensforge.client.models",
    "MyInvitation": "lensforge.client.models",
    "Organization": "lensforge.client.models",
    "Page": "lensforge.client.models",
    "Project": "lensforge.client.models",
    "ProjectMember": "lensforge.client.models",
    "SignupResult": "lensforge.client.models",
    "TokenPair": "lensforge.client.models",
    "UploadPart": "lensforge.client.models",
    "UploadSession": "lensforge.client.models",
    "User": "lensforge.client.models",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "APIError",
    "ApiKey",
    "Attempt",
    "AuthenticationError",
    "Capabilities",
    "Checkpoint",
    "Classification",
    "ConfigSchema",
    "ConfigValidation",
    "ConflictError",
    "ConnectionFailed",
    "CreatedApiKey",
    "Dataset",
    "DatasetImport",
    "DatasetItem",
    "DatasetVersion",
    "Deployment",
    "DeploymentStats",
    "DeploymentUrls",
    "DeploymentVersion",
    "Detection",
    "EventStream",
    "ExportDownload",
    "ExportFormat",
    "FieldError",
    "FolderSource",
    "ImageResult",
    "ImportIssue",
    "ImportReport",
    "ImportSource",
    "InferAnswer",
    "InferenceImage",
    "InferenceParams",
    "InferenceRun",
    "InvalidResponse",
    "Invitation",
    "Job",
    "JobDetail",
    "JobEvent",
    "LatencyStats",
    "LensforgeClient",
    "LensforgeError",
    "LogLine",
    "Me",
    "Member",
    "Membership",
    "MetricPoint",
    "MetricSeries",
    "ModelArtifact",
    "ModelExport",
    "ModelExportLink",
    "MyInvitation",
    "NotFoundError",
    "Organization",
    "Page",
    "PermissionDenied",
    "Prediction",
    "Project",
    "ProjectMember",
    "Resources",
    "S3Source",
    "ServerError",
    "SignupResult",
    "SplitConfig",
    "StatsPoint",
    "TokenPair",
    "Trainer",
    "TrainerCapabilities",
    "TrainerManifest",
    "TrainerModel",
    "TrainerModelWork",
    "Transition",
    "UploadFailed",
    "UploadPart",
    "UploadSession",
    "UploadSource",
    "Usage",
    "UsageRow",
    "User",
    "ValidationError",
    "VerificationReport",
    "VersionDiff",
    "VersionStats",
]
