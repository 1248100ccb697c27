"""THE access policy: which role may perform which action. Every route goes through `authorize`.

A role is held per organization. Actions are `resource:verb` strings. API keys may narrow what
their owner's role allows with scopes (`*`, `project:*`, `*:read`, `dataset:import`), never
widen it. A key never becomes more than itself: actions that mint credentials (a token pair for
another organization) are reserved to interactive logins, whatever the key's scopes, and a key
creating a key hands on at most its own scopes (`scopes_cover`).
"""

from __future__ import annotations

from enum import StrEnum
from fnmatch import fnmatchcase

from lensforge.errors import Forbidden


class Role(StrEnum):
    ADMIN = "admin"
    MANAGER = "manager"
    ADVANCED_ENGINEER = "advanced_engineer"
    STANDARD_ENGINEER = "standard_engineer"
    GUEST = "guest"


class Action(StrEnum):
    ORGANIZATION_READ = "organization:read"
    ORGANIZATION_UPDATE = "organization:update"
    MEMBER_READ = "member:read"
    MEMBER_MANAGE = "member:manage"
    PROJECT_READ = "project:read"
    PROJECT_CREATE = "project:create"
    PROJECT_UPDATE = "project:update"
    PROJECT_DELETE = "project:delete"
    PROJECT_MEMBER_MANAGE = "project_member:manage"
    PROJECT_VIEW_ALL = "project:view_all"
    API_KEY_READ = "api_key:read"
    API_KEY_MANAGE = "api_key:manage"
    DATASET_READ = "dataset:read"
    DATASET_IMPORT = "dataset:import"
    DATASET_EDIT = "dataset:edit"
    DATASET_DELETE = "dataset:delete"
    DATASET_SHARE = "dataset:share"
    STORAGE_ADMIN = "storage:admin"
    TRAINER_READ = "trainer:read"
    TRAINER_INSTALL = "trainer:install"
    JOB_READ = "job:read"
    JOB_CREATE = "job:create"
    JOB_CANCEL = "job:cancel"
    JOB_RESTART = "job:restart"
    MODEL_PREDICT = "model:predict"
    MODEL_EXPORT = "model:export"
    WORKER_READ = "worker:read"
    DEPLOYMENT_READ = "deployment:read"
    DEPLOYMENT_MANAGE = "deployment:manage"
    DEPLOYMENT_DELETE = "deployment:delete"
    DEPLOYMENT_INFER = "deployment:infer"
    USAGE_READ = "usage:read"
    SESSION_SWITCH = "session:switch"
    INVITATION_RESPOND = "invitation:respond"


_EVERYONE = frozenset(Role)
_ENGINEERS_UP = frozenset(
    {Role.ADMIN, Role.MANAGER, Role.ADVANCED_ENGINEER, Role.STANDARD_ENGINEER}
)
_ADVANCED_UP = frozenset({Role.ADMIN, Role.MANAGER, Role.ADVANCED_ENGINEER})
_MANAGERS_UP = frozenset({Role.ADMIN, Role.MANAGER})
_ADMIN_ONLY = frozenset({Role.ADMIN})

# The role × action table. A guest sees but never changes; engineers build; managers run the team.
POLICY: dict[Action, frozenset[Role]] = {
    Action.ORGANIZATION_READ: _EVERYONE,
    Action.ORGANIZATION_UPDATE: _ADMIN_ONLY,
    Action.MEMBER_READ: _EVERYONE,
    Action.MEMBER_MANAGE: _MANAGERS_UP,
    Action.PROJECT_READ: _EVERYONE,
    Action.PROJECT_CREATE: _ENGINEERS_UP,
    Action.PROJECT_UPDATE: _ADVANCED_UP,
    Action.PROJECT_DELETE: _MANAGERS_UP,
    Action.PROJECT_MEMBER_MANAGE: _MANAGERS_UP,
    Action.PROJECT_VIEW_ALL: _MANAGERS_UP,
    Action.API_KEY_READ: _EVERYONE,
    Action.API_KEY_MANAGE: _ENGINEERS_UP,
    Action.DATASET_READ: _EVERYONE,
    Action.DATASET_IMPORT: _ENGINEERS_UP,
    Action.DATASET_EDIT: _ENGINEERS_UP,
    Action.DATASET_DELETE: _ADVANCED_UP,
    Action.DATASET_SHARE: _MANAGERS_UP,
    Action.STORAGE_ADMIN: _ADMIN_ONLY,
    Action.TRAINER_READ: _EVERYONE,
    Action.TRAINER_INSTALL: _ADMIN_ONLY,
    Action.JOB_READ: _EVERYONE,
    Action.JOB_CREATE: _ENGINEERS_UP,
    Action.JOB_CANCEL: _ENGINEERS_UP,
    Action.JOB_RESTART: _ENGINEERS_UP,
    # Running a model costs compute like training does: a guest looks at results only.
    Action.MODEL_PREDICT: _ENGINEERS_UP,
    Action.MODEL_EXPORT: _ENGINEERS_UP,
    Action.WORKER_READ: _EVERYONE,
    Action.DEPLOYMENT_READ: _EVERYONE,
    Action.DEPLOYMENT_MANAGE: _ENGINEERS_UP,
    Action.DEPLOYMENT_DELETE: _ADVANCED_UP,
    # Predictions cost compute, as `model:predict` does: a guest looks, never runs.
    Action.DEPLOYMENT_INFER: _ENGINEERS_UP,
    # The whole organization's usage is the bill: for those who run the team.
    Action.USAGE_READ: _MANAGERS_UP,
    Action.SESSION_SWITCH: _EVERYONE,
    # Your own invitations, to any organization: whatever your role in the current one.
    Action.INVITATION_RESPOND: _EVERYONE,
}

# Actions that mint a session (access and refresh tokens) or change which organizations the
# person belongs to: an API key doing them would turn a narrow key, bound to one organization,
# into more than itself. No scope grants them, not even `*`.
INTERACTIVE_ONLY: frozenset[Action] = frozenset({Action.SESSION_SWITCH, Action.INVITATION_RESPOND})

# Roles a manager may hand out; only an admin can make another admin.
ASSIGNABLE_BY: dict[Role, frozenset[Role]] = {
    Role.ADMIN: frozenset(Role),
    Role.MANAGER: frozenset(Role) - {Role.ADMIN},
}


def role_allows(role: Role, action: Action) -> bool:
    return role in POLICY[action]


def scopes_allow(scopes: list[str] | None, action: Action) -> bool:
    """`None` means an interactive login (no narrowing); a list comes from an API key."""
    if scopes is None:
        return True
    return any(fnmatchcase(action.value, pattern) for pattern in scopes)


# Plural resource names people write after other platforms (`deployments:infer`, as in
# SERVING_REFERENCE's key examples) mean the singular action.
_SCOPE_ALIASES = {"deployments": "deployment", "datasets": "dataset", "projects": "project"}


def normalize_scope(scope: str) -> str:
    resource, sep, verb = scope.partition(":")
    return f"{_SCOPE_ALIASES.get(resource, resource)}{sep}{verb}"


def is_valid_scope(scope: str) -> bool:
    resource, _, verb = scope.partition(":")
    if scope == "*":
        return True
    if not verb:
        return False
    known = {action.value for action in Action if action not in INTERACTIVE_ONLY}
    return any(fnmatchcase(action, scope) for action in known) and bool(resource)


def _covers(granted: str, requested: str) -> bool:
    # With `*` as the only wildcard, a requested pattern that the granted pattern matches as a
    # plain string can only ever match names the granted one matches too (each of its `*` lies
    # inside a span a granted `*` absorbs). `?` and `[...]` break that, so they need equality.
    if any(char in granted + requested for char in "?["):
        return granted == requested
    return fnmatchcase(requested, granted)


def scopes_cover(granted: list[str] | tuple[str, ...], requested: list[str]) -> list[str]:
    """The requested scopes that the granted ones do not cover (empty: a subset). Checked on
    the patterns themselves, not on today's actions, so it stays true when actions are added."""
    return [scope for scope in requested if not any(_covers(g, scope) for g in granted)]


def authorize(role: Role, scopes: list[str] | None, action: Action) -> None:
    if scopes is not None and action in INTERACTIVE_ONLY:
        raise Forbidden(
            f"'{action.value}' needs an interactive login: an API key cannot mint tokens",
            details={"action": action.value},
            code="api_key_not_allowed",
        )
    if not role_allows(role, action):
        raise Forbidden(
            f"your role '{role.value}' does not allow '{action.value}'",
            details={"action": action.value, "role": role.value},
            code="permission_denied",
        )
    if not scopes_allow(scopes, action):
        raise Forbidden(
            f"this API key's scopes do not include '{action.value}'",
            details={"action": action.value, "scopes": scopes},
            code="scope_denied",
        )
