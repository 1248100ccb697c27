"""`client.models`: what each trainer can do with the models it trains (tasks, models,
prediction, export formats with the reason one is unavailable)."""

from __future__ import annotations

from lensforge.client.model_work_models import Capabilities
from lensforge.client.resources import Resource


class Models(Resource):
    def capabilities(self) -> Capabilities:
        return self._session.call(Capabilities, "GET", "/models/capabilities")
