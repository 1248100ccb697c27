"""Sign-up, login, token refresh and logout."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.orm import Session

from lensforge.auth.passwords import hash_password, password_problems, verify_password
from lensforge.auth.policy import Role
from lensforge.auth.repository import (
    MembershipRepository,
    OrganizationRepository,
    RefreshTokenRepository,
    UserRepository,
)
from lensforge.auth.schemas import TokenPair
from lensforge.auth.sign_in_throttle import SignInThrottle
from lensforge.auth.tokens import hash_secret, issue_access_token, new_secret
from lensforge.config import Settings
from lensforge.errors import Conflict, Forbidden, Unauthorized, ValidationFailed
from lensforge.kit.types import utcnow
from lensforge.models import Membership, Organization, RefreshToken, User


@dataclass(frozen=True, slots=True)
class NewAccount:
    user: User
    organization: Organization


class AuthService:
    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.users = UserRepository(session)
        self.organizations = OrganizationRepository(session)
        self.memberships = MembershipRepository(session)
        self.refresh_tokens = RefreshTokenRepository(session)

    # --- accounts -------------------------------------------------------------------------

    def create_account(
        self, *, email: str, password: str, display_name: str, organization_name: str | None
    ) -> NewAccount:
        """A user and their own organization, in which they are admin."""
        email = email.lower()
        problems = password_problems(
            password,
            min_length=self.settings.security.password_min_length,
            email=email,
            min_strength=self.settings.security.password_min_strength,
            user_inputs=[display_name, organization_name or ""],
        )
        if problems:
            raise ValidationFailed(
                "the password is too weak: " + "; ".join(problems),
                details={"fields": [{"field": "body.password", "message": p} for p in problems]},
                code="weak_password",
            )
        if self.users.get_by_email(email) is not None:
            raise Conflict("an account with this e-mail already exists", code="email_taken")
        user = self.users.add(
            User(
                email=email,
                display_name=display_name.strip(),
                password_hash=hash_password(password),
            )
        )
        name = (organization_name or f"{display_name.strip()}'s organization").strip()
        organization = self.organizations.add(Organization(name=name, slug=self._unique_slug(name)))
        self.memberships.add(
            Membership(organization_id=organization.id, user_id=user.id, role=Role.ADMIN.value)
        )
        return NewAccount(user=user, organization=organization)

    def signup(
        self, *, email: str, password: str, display_name: str, organization_name: str | None
    ) -> tuple[NewAccount, TokenPair]:
        if not self.settings.security.allow_signup:
            raise Forbidden(
                "sign-up is disabled on this server; ask an admin", code="signup_disabled"
            )
        account = self.create_account(
            email=email,
            password=password,
            display_name=display_name,
            organization_name=organization_name,
        )
        return account, self._issue(account.user.id, account.organization.id, family_id=None)

    def _unique_slug(self, name: str) -> str:
        base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "org"
        slug = base
        while self.organizations.slug_taken(slug):
            slug = f"{base}-{uuid.uuid4().hex[:6]}"
        return slug

    # --- sessions -------------------------------------------------------------------------

    def login(
        self,
        *,
        email: str,
        password: str,
        organization_id: uuid.UUID | None,
        client: str = "unknown",
    ) -> TokenPair:
        """Tokens for the right password; failures are throttled per account and per `client`
        (the caller's address): see `sign_in_throttle`."""
        throttle = SignInThrottle(self.session, self.settings.security, email=email, client=client)
        throttle.check()
        user = self.users.get_by_email(email)
        if not verify_password(user.password_hash if user else None, password) or user is None:
            throttle.failed()
            # The failure must be counted even though the request fails.
            raise Unauthorized(
                "wrong e-mail or password", code="invalid_credentials", keep_writes=True
            )
        if not user.is_active:
            raise Unauthorized("this account is disabled", code="account_disabled")
        throttle.succeeded()
        org_id = self._organization_for(user.id, organization_id)
        user.last_login_at = utcnow()
        return self._issue(user.id, org_id, family_id=None)

    def switch_organization(self, user_id: uuid.UUID, organization_id: uuid.UUID) -> TokenPair:
        return self._issue(
            user_id, self._organization_for(user_id, organization_id), family_id=None
        )

    def _organization_for(self, user_id: uuid.UUID, requested: uuid.UUID | None) -> uuid.UUID:
        memberships = self.memberships.for_user(user_id)
        if requested is not None:
            if not any(m.organization_id == requested for m, _ in memberships):
                raise Forbidden("you are not a member of that organization", code="not_a_member")
            return requested
        if not memberships:
            raise Forbidden("this account belongs to no organization", code="not_a_member")
        return memberships[0][0].organization_id

    def refresh(self, refresh_token: str) -> TokenPair:
        """Rotate: the old token dies, a new one is issued. Reusing a dead token revokes the
        whole login session, because only a thief would still hold an already-rotated token."""
        token = self.refresh_tokens.get_by_hash(hash_secret(refresh_token))
        if token is None:
            raise Unauthorized("the refresh token is not valid", code="token_invalid")
        if token.revoked_at is not None:
            self.refresh_tokens.revoke_family(token.family_id)
            raise Unauthorized(
                "the refresh token was already used or revoked",
                code="token_revoked",
                keep_writes=True,
            )
        if token.expires_at <= utcnow():
            raise Unauthorized("the refresh token has expired", code="token_expired")
        if self.memberships.get(token.organization_id, token.user_id) is None:
            raise Unauthorized(
                "you are no longer a member of this organization", code="not_a_member"
            )
        user = self.users.get(token.user_id)
        if user is None or not user.is_active:
            raise Unauthorized("this account is disabled", code="account_disabled")
        token.revoked_at = utcnow()
        return self._issue(token.user_id, token.organization_id, family_id=token.family_id)

    def logout(self, refresh_token: str) -> None:
        token = self.refresh_tokens.get_by_hash(hash_secret(refresh_token))
        if token is not None:
            self.refresh_tokens.revoke_family(token.family_id)

    def _issue(
        self, user_id: uuid.UUID, organization_id: uuid.UUID, *, family_id: uuid.UUID | None
    ) -> TokenPair:
        security = self.settings.security
        access, _ = issue_access_token(
            self.settings.secret_key,
            user_id=user_id,
            organization_id=organization_id,
            ttl_seconds=security.access_token_ttl_seconds,
        )
        refresh = new_secret()
        self.refresh_tokens.add(
            RefreshToken(
                user_id=user_id,
                organization_id=organization_id,
                token_hash=hash_secret(refresh),
                family_id=family_id or uuid.uuid4(),
                expires_at=utcnow() + timedelta(seconds=security.refresh_token_ttl_seconds),
            )
        )
        return TokenPair(
            access_token=access,
            refresh_token=refresh,
            expires_in=security.access_token_ttl_seconds,
            organization_id=organization_id,
        )
