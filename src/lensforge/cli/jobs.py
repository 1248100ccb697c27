"""`lensforge jobs list|show|logs|metrics|cancel|restart|resume`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated

import typer
from rich.markup import escape

from lensforge.cli._client import open_client, print_json
from lensforge.cli._dataset_refs import project_names
from lensforge.cli._job_follow import Follower, LogTail, log_from_event
from lensforge.cli._job_refs import JobArgument, find_job
from lensforge.cli._job_render import (
    attempts_table,
    checkpoints_table,
    jobs_table,
    log_text,
    metrics_line,
    metrics_table,
    print_job,
    status,
    transitions_table,
)
from lensforge.cli.output import EXIT_INTERRUPTED, console, err_console
from lensforge.cli.projects import resolve as resolve_project
from lensforge.client import JobDetail, JobEvent, LogLine
from lensforge.client.job_models import JOB_STATUSES, LOG_LEVELS

app = typer.Typer(
    help="Training jobs: status, logs, metrics, cancel and restart.", no_args_is_help=True
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


@app.command("list")
def list_jobs(
    project: Annotated[
        str | None, typer.Option("--project", "-p", help="Project id or name.")
    ] = None,
    status_: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help=f"Only these ({', '.join(JOB_STATUSES)}); repeat."),
    ] = None,
    trainer: Annotated[str | None, typer.Option(help="Only jobs of this trainer.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="Newest jobs to show.")] = 50,
    as_json: JsonOption = False,
) -> None:
    """List jobs, newest first."""
    statuses = [s.strip().lower() for s in status_ or []]
    unknown = sorted(set(statuses) - set(JOB_STATUSES))
    if unknown:
        raise typer.BadParameter(
            f"unknown {', '.join(unknown)}; choose from {', '.join(JOB_STATUSES)}",
            param_hint="--status",
        )
    with open_client() as client:
        found = resolve_project(client, project) if project is not None else None
        page = client.jobs.list(
            project_id=found.id if found else None,
            status=statuses or None,
            trainer=trainer,
            limit=limit,
        )
        several = len({job.project_id for job in page.items}) > 1
        names = project_names(client) if several else None
    if as_json:
        print_json({"items": page.items, "total": page.total})
        return
    if not page.items:
        console.print("no jobs; start one with `lensforge train`")
        return
    console.print(jobs_table(page.items, names))
    if page.total > len(page.items):
        console.print(f"showing {len(page.items)} of {page.total}; use --limit", style="dim")


@app.command()
def show(job: JobArgument, as_json: JsonOption = False) -> None:
    """Show a job: summary, attempts, transitions with reasons, last metrics, checkpoints."""
    with open_client() as client:
        found = client.jobs.get(find_job(client, job).id)
        points = client.jobs.metrics(found.id)
        checkpoints = client.jobs.checkpoints(found.id)
    last = points[-1] if points else None
    if as_json:
        print_json(
            {**found.model_dump(mode="json"), "last_metrics": last, "checkpoints": checkpoints}
        )
        return
    print_job(found)
    if last is not None:
        console.print(f"  last metrics (epoch {last.epoch}): {escape(metrics_line(last.values))}")
    if found.attempts:
        console.print(attempts_table(found))
    console.print(transitions_table(found))
    if checkpoints:
        console.print(checkpoints_table(checkpoints))


@app.command()
def logs(
    job: JobArgument,
    level: Annotated[
        str | None,
        typer.Option(help=f"Minimum level: {', '.join(LOG_LEVELS)}."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option(
            help="From this time: ISO 8601 (local time unless a zone is given) or "
            "an age such as 30s, 10m, 2h, 1d."
        ),
    ] = None,
    search: Annotated[str | None, typer.Option(help="Only lines containing this text.")] = None,
    attempt: Annotated[int | None, typer.Option(min=1, help="Only this attempt.")] = None,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing new lines until the job ends.")
    ] = False,
) -> None:
    """Print a job's log lines (oldest first); with --follow, new ones as they come."""
    wanted = _level(level)
    start = parse_since(since) if since is not None else None
    with open_client() as client:
        found = find_job(client, job)
        tail = LogTail(_print_line, level=wanted, search=search, attempt=attempt, since=start)
        if not follow:
            tail.catch_up(client, found.id)
            return
        follower = Follower(client, found.id)

        def on_event(event: JobEvent) -> None:
            line = log_from_event(event)
            if line is not None:
                tail.add(line)

        def catch_up() -> None:
            tail.catch_up(client, found.id)

        try:
            with follower.started():
                catch_up()
                finished = follower.run(on_event, _ignore, catch_up=catch_up)
                catch_up()  # lines whose events were lost at the very end
        except KeyboardInterrupt:
            err_console.print(f"stopped following; job {found.id} goes on")
            raise typer.Exit(EXIT_INTERRUPTED) from None
    err_console.print(f"job {escape(finished.name)} {status(finished.status)}")


@app.command()
def metrics(job: JobArgument, as_json: JsonOption = False) -> None:
    """A job's metrics: one row per epoch, one column per metric."""
    with open_client() as client:
        found = find_job(client, job)
        points = client.jobs.metrics(found.id)
    if as_json:
        print_json({"job_id": str(found.id), "points": points})
        return
    if not points:
        console.print(f"job {escape(found.name)} has reported no metrics yet")
        return
    console.print(metrics_table(points))


@app.command()
def cancel(job: JobArgument, as_json: JsonOption = False) -> None:
    """Cancel a job: a queued one at once, a running one as soon as its trainer stops."""
    with open_client() as client:
        done = client.jobs.cancel(find_job(client, job).id)
    _report(done, as_json, "cancel requested; the trainer is being stopped")


@app.command()
def restart(job: JobArgument, as_json: JsonOption = False) -> None:
    """Run a finished job again from scratch, as a new attempt."""
    with open_client() as client:
        done = client.jobs.restart(find_job(client, job).id)
    _report(done, as_json)


@app.command()
def resume(job: JobArgument, as_json: JsonOption = False) -> None:
    """Continue a failed or cancelled job from its last checkpoint, as a new attempt."""
    with open_client() as client:
        done = client.jobs.resume(find_job(client, job).id)
    _report(done, as_json)


# --- helpers -----------------------------------------------------------------------------------


def _report(job: JobDetail, as_json: bool, pending_note: str = "") -> None:
    if as_json:
        print_json(job)
        return
    reason = f" — {escape(job.status_reason)}" if job.status_reason else ""
    console.print(f"job [bold]{escape(job.name)}[/] ({job.id}): {status(job.status)}{reason}")
    if pending_note and not job.finished and job.cancel_requested_at is not None:
        console.print(pending_note, style="dim")


def _print_line(line: LogLine) -> None:
    console.print(log_text(line))


def _ignore(job: JobDetail) -> None:
    return None


def _level(level: str | None) -> str | None:
    if level is None:
        return None
    upper = level.strip().upper()
    if upper not in LOG_LEVELS:
        raise typer.BadParameter(f"choose one of {', '.join(LOG_LEVELS)}", param_hint="--level")
    return upper


def parse_since(text: str) -> datetime:
    """`2024-05-01T12:00`, `2024-05-01 12:00+02:00` (local time when no zone is given) or an
    age: `30s`, `10m`, `2h`, `1d`."""
    relative = _RELATIVE.match(text.strip().lower())
    if relative is not None:
        amount, unit = int(relative.group(1)), relative.group(2)
        return datetime.now().astimezone() - timedelta(**{_UNITS[unit]: amount})
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a time (2024-05-01T12:00) nor an age (30s, 10m, 2h, 1d)",
            param_hint="--since",
        ) from None
    return parsed if parsed.tzinfo is not None else parsed.astimezone()
