"""The home page's getting-started steps: what an organization has done so far, and the one
thing to do next (create a project, upload a dataset, train, then try the model)."""

from __future__ import annotations

from typing import Any

from lensforge.web.rendering import Viewer


def next_steps(
    viewer: Viewer, datasets: dict[str, Any], jobs: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each step with `done`, the first undone one marked `next`, and where to do it (the
    first project's pages; the projects page until there is one)."""
    project = viewer.projects[0]["id"] if viewer.projects else None
    with_data = [d for d in datasets["items"] if d["latest_version_number"] > 0]
    data_project = with_data[0]["project_id"] if with_data else project
    completed = [j for j in jobs["items"] if j["status"] == "completed"]
    steps = [
        {
            "id": "project",
            "title": "Create a project",
            "text": "A project holds your datasets, training jobs and models.",
            "done": project is not None,
            "href": "/projects",
            "action": "Create a project",
        },
        {
            "id": "dataset",
            "title": "Upload a dataset",
            "text": "A zip of images with labels (YOLO, COCO, Pascal VOC, ...): the format is "
            "detected and checked.",
            "done": bool(with_data),
            "href": f"/projects/{project}/datasets" if project else "/projects",
            "action": "Upload a dataset",
        },
        {
            "id": "train",
            "title": "Train a model",
            "text": "Pick a trainer and a model for your dataset's task; watch it learn live.",
            "done": jobs["total"] > 0,
            "href": f"/projects/{data_project}/jobs/new" if data_project else "/projects",
            "action": "Start a training",
        },
        {
            "id": "try",
            "title": "Try and export the model",
            "text": "Run it on new images, then export it (ONNX, ...) with a verification.",
            "done": False,
            "href": (
                f"/projects/{completed[0]['project_id']}/inference"
                if completed
                else (f"/projects/{project}/inference" if project else "/projects")
            ),
            "action": "Try the model",
        },
    ]
    for step in steps:
        if not step["done"]:
            step["next"] = True
            break
    return steps
