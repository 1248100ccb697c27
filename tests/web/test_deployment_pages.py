"""The deployment pages as the server renders them (both databases): the project's list and
form, a deployment's status, URLs and snippets, versions with rollback, keys and usage; what a
guest sees; another organization's deployment is a 404 page."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from markupsafe import escape

from lensforge.cli.deployments import usage_snippets
from lensforge.client import Deployment
from tests.client.deployment_setup import verified_onnx_export
from tests.fixtures.app import member_with_role, sign_up
from tests.web.helpers import browser_for

API = "/api/v1"


def _section(html: str, testid: str) -> str:
    found = re.search(rf'data-testid="{testid}".*?</table>', html, re.S)
    assert found, f"no {testid} table on the page"
    return found.group(0)


def test_the_deployment_pages_show_status_urls_versions_keys_and_usage(
    client: TestClient, tmp_path: Path
) -> None:
    admin = sign_up(client)
    first = verified_onnx_export(client, admin, tmp_path / "one")
    second = verified_onnx_export(client, admin, tmp_path / "two", job=first.job)
    created = client.post(
        f"{API}/deployments",
        json={"name": "pets", "export_id": first.export_id},
        headers=admin.headers,
    )
    assert created.status_code == 201, created.text
    deployment = created.json()
    updated = client.post(
        f"{API}/deployments/{deployment['id']}/versions",
        json={"export_id": second.export_id},
        headers=admin.headers,
    )
    assert updated.status_code in (200, 201), updated.text
    key = client.post(
        f"{API}/deployments/{deployment['id']}/keys", json={"name": "cam"}, headers=admin.headers
    )
    assert key.status_code == 201, key.text
    browser = browser_for(client, admin)

    listing = browser.get(f"/projects/{deployment['project_id']}/deployments")
    assert listing.status_code == 200
    assert 'data-deployment-row="pets"' in listing.text
    assert 'id="deployment-form"' in listing.text
    assert f'value="export:{first.export_id}"' in listing.text
    assert f'href="/projects/{deployment["project_id"]}/deployments"' in listing.text  # the nav

    page = browser.get(f"/deployments/{deployment['id']}")
    assert page.status_code == 200
    html = page.text
    assert 'data-testid="deployment-status">ready<' in html
    assert deployment["urls"]["image"] in html
    assert "curl -H &#34;Authorization: Bearer $LENSFORGE_API_KEY&#34;" in html
    # the tritonclient script is the one `lensforge deployments show` prints (tested to run)
    current = client.get(f"{API}/deployments/{deployment['id']}", headers=admin.headers).json()
    triton = usage_snippets(Deployment.model_validate(current))["tritonclient"]
    assert str(escape(triton)) in html
    assert 'data-testid="current-version">2<' in html
    versions = _section(html, "versions")
    assert 'data-testid="rollback-1"' in versions
    assert 'data-testid="rollback-2"' not in versions  # the current one
    assert 'data-key="cam"' in _section(html, "deployment-keys")
    assert f"/api/v1/deployments/{deployment['id']}/usage?group=day&amp;format=csv" in html
    assert f'data-stats-url="/api/v1/deployments/{deployment["id"]}/stats?minutes=60"' in html
    assert "Deactivate" in html

    home = browser.get("/")
    assert f'href="/deployments/{deployment["id"]}"' in home.text

    # a guest sees the deployment, not the buttons that change it
    visitor = member_with_role(client, admin, "guest")
    added = client.post(
        f"{API}/projects/{deployment['project_id']}/members",
        json={"user_id": visitor.user_id},
        headers=admin.headers,
    )
    assert added.status_code in (200, 201), added.text
    guest = browser_for(client, visitor)
    seen = guest.get(f"/deployments/{deployment['id']}").text
    assert deployment["urls"]["image"] in seen
    assert 'data-testid="rollback-1"' not in seen
    assert "Deactivate" not in seen
    assert 'id="create-deployment-key"' not in seen

    # another organization: not found
    stranger = browser_for(client, sign_up(client))
    assert stranger.get(f"/deployments/{deployment['id']}").status_code == 404
