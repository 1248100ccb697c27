"""SQL for users, organizations, memberships, refresh tokens, API keys and sign-in throttles."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from lensforge.kit.types import utcnow
from lensforge.models import (
    ApiKey,
    Membership,
    Organization,
    RefreshToken,
    SignInThrottle,
    User,
)


class UserRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, user_id: uuid.UUID) -> User | None:
        return self.session.get(User, user_id)

    def get_by_email(self, email: str) -> User | None:
        return self.session.scalar(select(User).where(User.email == email.lower()))

    def add(self, user: User) -> User:
        self.session.add(user)
        self.session.flush()
        return user

    def count(self) -> int:
        return self.session.scalar(select(func.count()).select_from(User)) or 0


class OrganizationRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID) -> Organization | None:
        return self.session.get(Organization, organization_id)

    def slug_taken(self, slug: str) -> bool:
        return (
            self.session.scalar(select(Organization.id).where(Organization.slug == slug))
            is not None
        )

    def add(self, organization: Organization) -> Organization:
        self.session.add(organization)
        self.session.flush()
        return organization


class MembershipRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, organization_id: uuid.UUID, user_id: uuid.UUID) -> Membership | None:
        return self.session.scalar(
            select(Membership).where(
                Membership.organization_id == organization_id, Membership.user_id == user_id
            )
        )

    def for_user(self, user_id: uuid.UUID) -> Sequence[tuple[Membership, Organization]]:
        rows = self.session.execute(
            select(Membership, Organization)
            .join(Organization, Organization.id == Membership.organization_id)
            .where(Membership.user_id == user_id)
            .order_by(Membership.created_at, Organization.name)
        )
        return [(row[0], row[1]) for row in rows]

    def for_organization(self, organization_id: uuid.UUID) -> Sequence[tuple[Membership, User]]:
        rows = self.session.execute(
            select(Membership, User)
            .join(User, User.id == Membership.user_id)
            .where(Membership.organization_id == organization_id)
            .order_by(User.email)
        )
        return [(row[0], row[1]) for row in rows]

    def count_role(self, organization_id: uuid.UUID, role: str) -> int:
        return (
            self.session.scalar(
                select(func.count())
                .select_from(Membership)
                .where(Membership.organization_id == organization_id, Membership.role == role)
            )
            or 0
        )

    def add(self, membership: Membership) -> Membership:
        self.session.add(membership)
        self.session.flush()
        return membership

    def delete(self, membership: Membership) -> None:
        self.session.delete(membership)
        self.session.flush()


class RefreshTokenRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get_by_hash(self, token_hash: str) -> RefreshToken | None:
        return self.session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )

    def add(self, token: RefreshToken) -> RefreshToken:
        self.session.add(token)
        self.session.flush()
        return token

    def revoke_family(self, family_id: uuid.UUID) -> None:
        self.session.execute(
            update(RefreshToken)
            .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


class ApiKeyRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def get(self, key_id: uuid.UUID) -> ApiKey | None:
        return self.session.get(ApiKey, key_id)

    def get_by_prefix(self, prefix: str) -> ApiKey | None:
        return self.session.scalar(select(ApiKey).where(ApiKey.prefix == prefix))

    def list(
        self, organization_id: uuid.UUID, user_id: uuid.UUID | None = None
    ) -> Sequence[ApiKey]:
        query = select(ApiKey).where(ApiKey.organization_id == organization_id)
        if user_id is not None:
            query = query.where(ApiKey.user_id == user_id)
        return self.session.scalars(query.order_by(ApiKey.created_at)).all()

    def add(self, key: ApiKey) -> ApiKey:
        self.session.add(key)
        self.session.flush()
        return key


class SignInThrottleRepository:
    """Counters updated in one statement each, so that concurrent failures in several server
    processes all count."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def get_many(self, subject_hashes: Sequence[str]) -> Sequence[SignInThrottle]:
        return self.session.scalars(
            select(SignInThrottle).where(SignInThrottle.subject_hash.in_(subject_hashes))
        ).all()

    def count_failure(
        self, subject_hash: str, kind: str, *, now: datetime, forget_before: datetime
    ) -> int:
        """Add one failure (starting again from 1 when the last one is forgotten); the count."""
        dialect = self.session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        self.session.execute(
            insert(SignInThrottle)
            .values(subject_hash=subject_hash, kind=kind, failures=0, last_failure_at=now)
            .on_conflict_do_nothing(index_elements=["subject_hash"])
        )
        failures = self.session.scalar(
            update(SignInThrottle)
            .where(SignInThrottle.subject_hash == subject_hash)
            .values(
                failures=case(
                    (SignInThrottle.last_failure_at < forget_before, 1),
                    else_=SignInThrottle.failures + 1,
                ),
                last_failure_at=now,
            )
            .returning(SignInThrottle.failures)
            .execution_options(synchronize_session=False)
        )
        return int(failures or 1)

    def lock(self, subject_hash: str, until: datetime) -> None:
        self.session.execute(
            update(SignInThrottle)
            .where(SignInThrottle.subject_hash == subject_hash)
            .values(locked_until=until)
            .execution_options(synchronize_session=False)
        )

    def clear(self, subject_hash: str) -> None:
        self.session.execute(
            delete(SignInThrottle)
            .where(SignInThrottle.subject_hash == subject_hash)
            .execution_options(synchronize_session=False)
        )

    def forget_older_than(self, forget_before: datetime, now: datetime) -> None:
        """Drop counters nobody needs any more, so strangers' guesses do not pile up."""
        self.session.execute(
            delete(SignInThrottle)
            .where(
                SignInThrottle.last_failure_at < forget_before,
                (SignInThrottle.locked_until.is_(None)) | (SignInThrottle.locked_until < now),
            )
            .execution_options(synchronize_session=False)
        )
