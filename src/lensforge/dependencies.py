"""Request dependencies for what lives on `app.state`: settings, database session, object store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session, sessionmaker

from lensforge.config import Settings
from lensforge.errors import LensforgeError
from lensforge.storage.base import ObjectStore


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_object_store(request: Request) -> ObjectStore:
    store: ObjectStore = request.app.state.object_store
    return store


def get_session(request: Request) -> Iterator[Session]:
    """The request owns the transaction: services only flush; this commits or rolls back.

    Used with scope="function" so the commit happens before the response is sent: a client that
    got a 2xx can rely on the write being durable.
    """
    factory: sessionmaker[Session] = request.app.state.session_factory
    session = factory()
    try:
        yield session
        session.commit()
    except LensforgeError as exc:
        if exc.keep_writes:
            session.commit()
        else:
            session.rollback()
        raise
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


SettingsDep = Annotated[Settings, Depends(get_settings)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ObjectStoreDep = Annotated[ObjectStore, Depends(get_object_store)]
