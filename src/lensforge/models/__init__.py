"""SQLAlchemy tables, one module per table. Importing this package registers them all."""

from lensforge.models.api_key import ApiKey
from lensforge.models.base import Base
from lensforge.models.dataset import (
    Dataset,
    DatasetImport,
    DatasetItem,
    DatasetVersion,
    ImageBlob,
)
from lensforge.models.deployment import (
    DEPLOYMENT_STATUSES,
    Deployment,
    DeploymentVersion,
    UsageRecord,
)
from lensforge.models.invitation import Invitation
from lensforge.models.job import (
    JOB_KINDS,
    JOB_STATUSES,
    Event,
    JobAttempt,
    JobCheckpoint,
    JobLog,
    JobMetric,
    JobReport,
    JobTransition,
    TrainingJob,
    Worker,
)
from lensforge.models.job_artifact import ARTIFACT_KINDS, JobArtifact
from lensforge.models.membership import ROLE_NAMES, Membership
from lensforge.models.model_artifact import ModelArtifact
from lensforge.models.model_work import InferenceRun, ModelExport
from lensforge.models.organization import Organization
from lensforge.models.project import Project, ProjectMember
from lensforge.models.refresh_token import RefreshToken
from lensforge.models.sign_in_throttle import SignInThrottle
from lensforge.models.upload import UPLOAD_STATUSES, UploadPart, UploadSession
from lensforge.models.user import User

__all__ = [
    "ARTIFACT_KINDS",
    "DEPLOYMENT_STATUSES",
    "JOB_KINDS",
    "JOB_STATUSES",
    "ROLE_NAMES",
    "UPLOAD_STATUSES",
    "ApiKey",
    "Base",
    "Dataset",
    "DatasetImport",
    "DatasetItem",
    "DatasetVersion",
    "Deployment",
    "DeploymentVersion",
    "Event",
    "ImageBlob",
    "InferenceRun",
    "Invitation",
    "JobArtifact",
    "JobAttempt",
    "JobCheckpoint",
    "JobLog",
    "JobMetric",
    "JobReport",
    "JobTransition",
    "Membership",
    "ModelArtifact",
    "ModelExport",
    "Organization",
    "Project",
    "ProjectMember",
    "RefreshToken",
    "SignInThrottle",
    "TrainingJob",
    "UploadPart",
    "UploadSession",
    "UsageRecord",
    "User",
    "Worker",
]
