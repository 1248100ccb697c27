"""SQLAlchemy tables, one module per table. Importing this package registers them all."""

from lensforge.models.api_key import ApiKey
from lensforge.models.base import Base
from lensforge.models.membership import ROLE_NAMES, Membership
from lensforge.models.organization import Organization
from lensforge.models.project import Project, ProjectMember
from lensforge.models.refresh_token import RefreshToken
from lensforge.models.user import User

__all__ = [
    "ROLE_NAMES",
    "ApiKey",
    "Base",
    "Membership",
    "Organization",
    "Project",
    "ProjectMember",
    "RefreshToken",
    "User",
]
