"""SQL for users, organizations, memberships, refresh tokens and API keys."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from lensforge.kit.types import utcnow
from lensforge.models import ApiKey, Membership, Organization, RefreshToken, User


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
