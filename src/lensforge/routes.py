"""Every API router, mounted under /api/v1 by `create_app`."""

from __future__ import annotations

from fastapi import APIRouter

from lensforge import health
from lensforge.auth import api as auth_api
from lensforge.auth import api_keys_api
from lensforge.datasets import api as datasets_api
from lensforge.datasets import browse_api as datasets_browse_api
from lensforge.deployments import api as deployments_api
from lensforge.jobs import api as jobs_api
from lensforge.jobs import telemetry_api as jobs_telemetry_api
from lensforge.jobs import trainer_api as jobs_trainer_api
from lensforge.model_artifacts import api as model_artifacts_api
from lensforge.model_work import api as model_work_api
from lensforge.organizations import api as organizations_api
from lensforge.projects import api as projects_api
from lensforge.realtime import api as realtime_api
from lensforge.storage import api as storage_api
from lensforge.trainers import api as trainers_api
from lensforge.uploads import api as uploads_api

# The inventory of every router. The policy test walks these to check each route's access.
ROUTERS: list[APIRouter] = [
    health.router,
    auth_api.router,
    api_keys_api.router,
    organizations_api.router,
    projects_api.router,
    datasets_api.router,
    datasets_browse_api.router,
    storage_api.router,
    trainers_api.router,
    jobs_api.router,
    jobs_telemetry_api.router,
    jobs_trainer_api.router,
    model_work_api.router,
    realtime_api.router,
    uploads_api.router,
    model_artifacts_api.router,
    deployments_api.router,
]

api_router = APIRouter()
for _router in ROUTERS:
    api_router.include_router(_router)
