"""Every page for every role of the policy module: the page works, the controls the role may
use are there and the others are absent, and the API refuses what the hidden controls would
do (through the same cookie session the pages use). Another organization's ids are 404 pages
that show none of its data."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from lensforge.auth.browser_sessions import CSRF_HEADER
from lensforge.auth.policy import POLICY, Action, Role
from lensforge.web import job_pages
from tests.fixtures.app import Account, member_with_role, sign_up
from tests.jobs.helpers import JobSetup, claim, create_job
from tests.web.helpers import browser_for


@pytest.fixture
def setup(client: TestClient, tmp_path: Path) -> tuple[dict[Role, Account], JobSetup]:
    admin = sign_up(client)
    accounts = {Role.ADMIN: admin}
    for role in Role:
        if role is not Role.ADMIN:
            accounts[role] = member_with_role(client, admin, role.value)
    job = create_job(client, admin, tmp_path / "data")
    for account in accounts.values():
        if account is not admin:  # engineers and guests see the projects they are members of
            added = client.post(
                f"/api/v1/projects/{job.project_id}/members",
                json={"user_id": account.user_id},
                headers=admin.headers,
            )
            assert added.status_code == 201, added.text
    trainer = claim(client, job.job_id)
    trainer.report("started")  # running: it can be cancelled, and its model can be tried
    return accounts, job


def _pages(job: JobSetup) -> dict[str, list[tuple[str, Action]]]:
    """Each page, with the markers of the controls on it and the action each needs."""
    p, d, j = job.project_id, job.dataset_id, job.job_id
    return {
        "/projects": [('id="new-project"', Action.PROJECT_CREATE)],
        f"/projects/{p}": [
            (f'href="/projects/{p}/jobs/new"', Action.JOB_CREATE),
            ('id="project-member-manage"', Action.PROJECT_MEMBER_MANAGE),
        ],
        f"/projects/{p}/datasets": [('id="new-dataset"', Action.DATASET_IMPORT)],
        f"/datasets/{d}": [
            (f'href="/datasets/{d}/import"', Action.DATASET_IMPORT),
            ('id="dataset-share"', Action.DATASET_SHARE),
            ('id="dataset-delete"', Action.DATASET_DELETE),
        ],
        f"/datasets/{d}?tab=images": [],
        f"/datasets/{d}?tab=stats": [],
        f"/datasets/{d}?tab=splits": [('id="split-form"', Action.DATASET_EDIT)],
        f"/datasets/{d}?tab=diff": [],
        f"/datasets/{d}?tab=imports": [],
        f"/datasets/{d}/import": [('id="upload-form"', Action.DATASET_IMPORT)],
        f"/projects/{p}/jobs": [(f'href="/projects/{p}/jobs/new"', Action.JOB_CREATE)],
        f"/projects/{p}/jobs/new": [('id="job-form"', Action.JOB_CREATE)],
        f"/projects/{p}/jobs/new?from={j}": [('id="job-form"', Action.JOB_CREATE)],
        f"/jobs/{j}/summary": [('data-testid="cancel"', Action.JOB_CANCEL)],
        f"/jobs/{j}": [
            ('data-testid="cancel"', Action.JOB_CANCEL),
            (f'href="/projects/{p}/jobs/new?from={j}"', Action.JOB_CREATE),
        ],
        f"/projects/{p}/compare?job={j}": [],
        f"/projects/{p}/inference": [
            ('id="predict-form"', Action.MODEL_PREDICT),
            ('id="batch-form"', Action.MODEL_PREDICT),
        ],
        f"/projects/{p}/exports": [('id="export-form"', Action.MODEL_EXPORT)],
        "/organization/members": [
            ('id="add-member"', Action.MEMBER_MANAGE),
            ('id="pending-invitations"', Action.MEMBER_MANAGE),
        ],
        "/organization/api-keys": [('id="create-key"', Action.API_KEY_MANAGE)],
        "/invitations": [('id="my-invitations"', Action.INVITATION_RESPOND)],
    }


# What the hidden controls would send: each must be refused for the roles without the action
# (403 before anything else; the allowed roles get past the policy to the body's validation).
_CHANGES = [
    ("POST", "/api/v1/projects", Action.PROJECT_CREATE),
    ("POST", "/api/v1/datasets", Action.DATASET_IMPORT),
    ("POST", "/api/v1/training/jobs", Action.JOB_CREATE),
    ("POST", f"/api/v1/training/jobs/{uuid.uuid4()}/cancel", Action.JOB_CANCEL),
    ("POST", f"/api/v1/training/jobs/{uuid.uuid4()}/restart", Action.JOB_RESTART),
    ("POST", "/api/v1/exports", Action.MODEL_EXPORT),
    ("POST", "/api/v1/inference", Action.MODEL_PREDICT),
    ("POST", "/api/v1/organizations/current/members", Action.MEMBER_MANAGE),
    ("DELETE", f"/api/v1/organizations/current/invitations/{uuid.uuid4()}", Action.MEMBER_MANAGE),
    ("POST", "/api/v1/api-keys", Action.API_KEY_MANAGE),
    ("POST", f"/api/v1/projects/{uuid.uuid4()}/members", Action.PROJECT_MEMBER_MANAGE),
    ("PUT", f"/api/v1/datasets/{uuid.uuid4()}/sharing", Action.DATASET_SHARE),
    ("DELETE", f"/api/v1/datasets/{uuid.uuid4()}", Action.DATASET_DELETE),
]


def test_every_page_for_every_role(
    client: TestClient, setup: tuple[dict[Role, Account], JobSetup]
) -> None:
    accounts, job = setup
    checked = 0
    for role, account in accounts.items():
        browser = browser_for(client, account)
        for path, controls in _pages(job).items():
            page = browser.get(path)
            assert page.status_code == 200, f"{role.value} {path}: {page.status_code}"
            if not path.endswith("/summary"):  # a fragment HTMX swaps in, not a page
                assert 'data-testid="role">' in page.text
            for marker, action in controls:
                allowed = role in POLICY[action]
                assert (marker in page.text) == allowed, (
                    f"{role.value} on {path}: {marker} should be "
                    f"{'present' if allowed else 'absent'} ({action.value})"
                )
                checked += 1
        for method, path, action in _CHANGES:
            response = browser.request(method, path, json={})
            denied = (
                response.status_code == 403
                and response.json()["error"]["code"] == "permission_denied"
            )
            assert denied == (role not in POLICY[action]), (
                f"{role.value} {method} {path}: {response.status_code} {response.text[:200]}"
            )
    assert checked == len(Role) * sum(len(c) for c in _pages(job).values())


def test_a_guest_sees_but_cannot_change(
    client: TestClient, setup: tuple[dict[Role, Account], JobSetup]
) -> None:
    accounts, job = setup
    guest = browser_for(client, accounts[Role.GUEST])
    page = guest.get(f"/jobs/{job.job_id}").text
    assert "data-api-action" not in page  # no cancel, restart or resume button at all
    refused = guest.post(f"/api/v1/training/jobs/{job.job_id}/cancel")
    assert refused.status_code == 403
    assert (
        client.get(
            f"/api/v1/training/jobs/{job.job_id}", headers=accounts[Role.ADMIN].headers
        ).json()["status"]
        == "running"
    )


def test_another_organizations_ids_are_not_found_pages(
    client: TestClient, setup: tuple[dict[Role, Account], JobSetup]
) -> None:
    accounts, job = setup
    project_name = client.get(
        f"/api/v1/projects/{job.project_id}", headers=accounts[Role.ADMIN].headers
    ).json()["name"]
    stranger = browser_for(client, sign_up(client))
    p, d, j = job.project_id, job.dataset_id, job.job_id
    for path in (
        f"/projects/{p}",
        f"/projects/{p}/datasets",
        f"/projects/{p}/jobs",
        f"/projects/{p}/jobs/new",
        f"/projects/{p}/compare",
        f"/projects/{p}/inference",
        f"/projects/{p}/exports",
        f"/datasets/{d}",
        f"/datasets/{d}?tab=images",
        f"/datasets/{d}/import",
        f"/jobs/{j}",
        f"/jobs/{j}/summary",
        f"/inference/{uuid.uuid4()}",
        f"/exports/{uuid.uuid4()}",
        "/projects/not-a-uuid",
    ):
        page = stranger.get(path)
        assert page.status_code == 404, f"{path}: {page.status_code}"
        assert "Not found" in page.text
        assert project_name not in page.text
    listing = stranger.get("/projects").text
    assert project_name not in listing
    # Their own compare page may not pull in a foreign job either.
    own = stranger.post(
        "/api/v1/projects",
        json={"name": "mine"},
        headers={CSRF_HEADER: stranger.headers[CSRF_HEADER]},
    ).json()
    assert stranger.get(f"/projects/{own['id']}/compare?job={j}").status_code == 404


def test_the_job_list_pages(
    client: TestClient,
    setup: tuple[dict[Role, Account], JobSetup],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    accounts, job = setup
    admin = accounts[Role.ADMIN]
    for _ in range(2):
        create_job(client, admin, tmp_path, project_id=job.project_id, dataset_id=job.dataset_id)
    monkeypatch.setattr(job_pages, "JOBS_PER_PAGE", 2)
    browser = browser_for(client, admin)
    first = browser.get(f"/projects/{job.project_id}/jobs").text
    assert first.count("data-job-row=") == 2
    assert "1–2 of 3" in first
    assert 'href="?offset=2"' in first
    second = browser.get(f"/projects/{job.project_id}/jobs?offset=2").text
    assert second.count("data-job-row=") == 1
    assert f'data-job-row="{job.job_id}"' in second  # the oldest comes last
    assert 'href="?offset=0"' in second
