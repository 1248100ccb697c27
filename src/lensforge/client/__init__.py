"""The Python client of the Lensforge API (also what the `lensforge` CLI talks through).

    from lensforge.client import LensforgeClient, NotFoundError

    with LensforgeClient("http://127.0.0.1:8000", api_key="lfk_...") as client:
        print(client.auth.me().user.email)
        for project in client.projects.iter():
            print(project.name)

Calls are grouped by noun: `client.auth`, `client.organizations`, `client.projects`,
`client.api_keys`, `client.uploads`, `client.datasets`, `client.trainers`, `client.jobs`,
`client.exports`, `client.inference`, `client.models`. Responses are frozen pydantic models
(`lensforge.client.models`, `lensforge.client.dataset_models`, `lensforge.client.job_models`,
`lensforge.client.model_work_models`).

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
    "User",
    "ValidationError",
    "VerificationReport",
    "VersionDiff",
    "VersionStats",
]
