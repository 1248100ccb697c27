"""Base classes for API schemas."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Generic, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict

T = TypeVar("T")


class Schema(BaseModel):
    """Response and request bodies; reads attributes so ORM rows convert directly."""

    model_config = ConfigDict(from_attributes=True, extra="forbid")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


def _naive_as_utc(value: datetime | None) -> datetime | None:
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


# An instant given by a client: with an offset as given, without one read as UTC (comparing a
# naive with an aware datetime used to be a 500).
UtcDateTime = Annotated[datetime, AfterValidator(_naive_as_utc)]
