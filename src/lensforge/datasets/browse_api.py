"""Routes: /datasets/{id}/versions/{number}/... — browsing, stats, diff, manifest and export.

Everything here reads an immutable version, so responses carry strong ETags (content hashes)
and may be cached privately by the browser.
"""

from __future__ import annotations

import shutil
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import FileResponse, Response, StreamingResponse
from starlette.background import BackgroundTask

from lensforge.auth.dependencies import requires
from lensforge.auth.policy import Action
from lensforge.auth.principal import Principal
from lensforge.datasets import thumbnails
from lensforge.datasets.browse import BrowseService, image_etag
from lensforge.datasets.browse_schemas import ItemRead, VersionDiffRead, VersionStatsRead
from lensforge.datasets.export import EXPORT_FORMATS
from lensforge.datasets.splits import SplitName
from lensforge.dependencies import ObjectStoreDep, SessionDep, SettingsDep
from lensforge.kit.pagination import INT32_MAX, Offset
from lensforge.kit.schemas import Page
from lensforge.models import DatasetItem

router = APIRouter(prefix="/datasets", tags=["datasets"])

_VERSION = "/{dataset_id}/versions/{number}"
_ITEM = _VERSION + "/items/{item_id}"
_CACHE_CONTROL = "private, max-age=86400"
# Images come from users and are served from the API's origin: never let one run as a page.
_SAFE_HEADERS = {"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"}

VersionNumber = Annotated[int, Path(ge=1, le=INT32_MAX)]
IfNoneMatch = Annotated[str | None, Header()]


def _not_modified(if_none_match: str | None, etag: str) -> bool:
    if if_none_match is None:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return etag in tags or "*" in tags


def _cached_headers(etag: str) -> dict[str, str]:
    return {**_SAFE_HEADERS, "ETag": etag, "Cache-Control": _CACHE_CONTROL}


def _item_read(request: Request, item: DatasetItem, dataset_id: uuid.UUID, number: int) -> ItemRead:
    params = {"dataset_id": str(dataset_id), "number": str(number), "item_id": str(item.id)}
    return ItemRead(
        id=item.id,
        file_name=item.file_name,
        split=item.split,
        width=item.width,
        height=item.height,
        image_sha256=item.image_sha256,
        annotations=item.annotations,
        labels=item.labels,
        thumbnail_url=request.app.url_path_for("dataset_item_thumbnail", **params),
        image_url=request.app.url_path_for("dataset_item_image", **params),
    )


@router.get(_VERSION + "/items", response_model=Page[ItemRead])
def list_items(
    *,
    request: Request,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_READ),
    split: SplitName | None = None,
    class_id: int | None = Query(
        None, ge=0, le=INT32_MAX, description="only images with this class"
    ),
    limit: int = Query(50, ge=1, le=500),
    offset: Offset = 0,
) -> Page[ItemRead]:
    """The version's images with their annotations, ordered by file name."""
    rows, total = BrowseService(session, store).page(
        principal, dataset_id, number, split=split, class_id=class_id, limit=limit, offset=offset
    )
    return Page(
        items=[_item_read(request, row, dataset_id, number) for row in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get(_ITEM + "/image", name="dataset_item_image", response_class=StreamingResponse)
def item_image(
    *,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    item_id: uuid.UUID,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_READ),
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The original image file, byte for byte as imported."""
    service = BrowseService(session, store)
    dataset, item = service.item(principal, dataset_id, number, item_id)
    etag = image_etag(item.image_sha256)
    if _not_modified(if_none_match, etag):
        return Response(status_code=304, headers=_cached_headers(etag))
    image = service.image(dataset, item)
    return StreamingResponse(
        image.chunks(),
        media_type=image.media_type,
        headers={**_cached_headers(etag), "Content-Length": str(image.size)},
        # Closes the object when the client leaves before the body was sent.
        background=BackgroundTask(image.stream.close),
    )


@router.get(_ITEM + "/thumbnail", name="dataset_item_thumbnail", response_class=StreamingResponse)
def item_thumbnail(
    *,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    item_id: uuid.UUID,
    session: SessionDep,
    store: ObjectStoreDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.DATASET_READ),
    size: int = Query(
        thumbnails.DEFAULT_SIZE,
        ge=thumbnails.MIN_SIZE,
        le=thumbnails.MAX_SIZE,
        description="longest side in pixels; served at the next of "
        f"{', '.join(map(str, thumbnails.SIZES))} (so few sizes are ever cached)",
    ),
    if_none_match: IfNoneMatch = None,
) -> Response:
    """A JPEG of the image (upright, at most the snapped `size` pixels each way), rendered once
    and cached. 413 `image_too_large` for an image above the server's pixel limit."""
    service = BrowseService(session, store)
    dataset, item = service.item(principal, dataset_id, number, item_id)
    etag = thumbnails.thumbnail_etag(item.image_sha256, size)
    if _not_modified(if_none_match, etag):
        return Response(status_code=304, headers=_cached_headers(etag))
    thumb = service.thumbnail(dataset, item, size, settings.datasets.max_image_pixels)
    close = BackgroundTask(thumb.stream.close) if thumb.stream is not None else None
    return StreamingResponse(
        thumb.chunks(),
        media_type="image/jpeg",
        headers={**_cached_headers(etag), "Content-Length": str(thumb.size)},
        background=close,
    )


@router.get(_VERSION + "/stats", response_model=VersionStatsRead)
def version_stats(
    *,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_READ),
) -> VersionStatsRead:
    """Counts and distributions computed when the version was created."""
    return BrowseService(session, store).stats(principal, dataset_id, number)


@router.get(_VERSION + "/diff", response_model=VersionDiffRead)
def version_diff(
    *,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_READ),
    against: int = Query(
        ge=1, le=INT32_MAX, description="the version to compare with (the older side)"
    ),
    limit: int = Query(100, ge=1, le=10_000, description="entries per list; counts are total"),
) -> VersionDiffRead:
    """What changed from version `against` to this one."""
    return BrowseService(session, store).diff(
        principal, dataset_id, number, against=against, limit=limit
    )


@router.get(_VERSION + "/manifest", response_class=StreamingResponse)
def version_manifest(
    *,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    session: SessionDep,
    store: ObjectStoreDep,
    principal: Principal = requires(Action.DATASET_READ),
    if_none_match: IfNoneMatch = None,
) -> Response:
    """The canonical manifest JSON: exactly the bytes the version's content hash covers."""
    service = BrowseService(session, store)
    _, version = service.version(principal, dataset_id, number)
    etag = f'"{version.content_hash}"'
    if _not_modified(if_none_match, etag):
        return Response(status_code=304, headers=_cached_headers(etag))
    manifest = service.manifest(version)
    return StreamingResponse(
        manifest.chunks(),
        media_type=manifest.media_type,
        headers={**_cached_headers(etag), "Content-Length": str(manifest.size)},
        background=BackgroundTask(manifest.stream.close),
    )


@router.get(_VERSION + "/export", response_class=FileResponse)
def export_version(
    *,
    dataset_id: uuid.UUID,
    number: VersionNumber,
    session: SessionDep,
    store: ObjectStoreDep,
    settings: SettingsDep,
    principal: Principal = requires(Action.DATASET_READ),
    format: str = Query(description=f"one of: {', '.join(EXPORT_FORMATS)}"),
) -> FileResponse:
    """The version as a zip in `format`; 422 `unsupported_export` names the formats that can
    express this version. `X-Lensforge-Skipped-Items` counts images the format could not hold
    (ImageFolder has no place for unlabelled images)."""
    archive = BrowseService(session, store).export(
        principal,
        dataset_id,
        number,
        format,
        work_root=settings.work_dir,
        # Building the zip may take minutes; end the read transaction instead of holding it.
        checkpoint=session.commit,
    )
    return FileResponse(
        archive.path,
        media_type="application/zip",
        filename=archive.filename,
        headers={"X-Lensforge-Skipped-Items": str(archive.skipped)},
        background=BackgroundTask(shutil.rmtree, archive.work_dir, ignore_errors=True),
    )
