"""Demo models and demo inference jobs, created idempotently by ``manage.py demo``.

The demo models are small checkpoints committed under ``platform/demo/demo_models/``, each trained
by our own training command on synthetic phantoms (the exact commands are in that folder's
``manifest.json``). They are registered like any other checkpoint (sha256 verified, copied into
SAGITTAL_MODELS_DIR) and activated only where no model of their task is active yet. Then one job
per demo case is queued: pseudo-MRI on the CT of each cervical case, NC-CTM on the dual-energy
CT of each lumbar case; the worker that ``make run`` starts runs them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cases.models import Case, Series, SeriesRole
from inference import jobs, registry, worker
from inference.common.checkpoints import sha256_file
from inference.errors import InferenceError
from inference.models import InferenceJob, JobState, ModelTask, ModelVersion

DEMO_MODELS_DIR = Path(__file__).resolve().parent / "demo_models"
MANIFEST = DEMO_MODELS_DIR / "manifest.json"
#: Which demo cases each task runs on, and on which of their series.
DEMO_RUNS = (
    (ModelTask.PSEUDO_MRI, "CSCI-", SeriesRole.CT),
    (ModelTask.NCCTM, "NCCTM-", SeriesRole.DECT_MIXED),
)


@dataclass
class DemoInferenceReport:
    models_registered: int = 0
    models_activated: int = 0
    jobs_queued: int = 0
    jobs_succeeded: int = 0
    problems: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        text = (
            f"{self.models_registered} models registered, {self.models_activated} activated, "
            f"{self.jobs_queued} jobs created, {self.jobs_succeeded} run here and succeeded"
        )
        return text + "".join(f"\n  problem: {problem}" for problem in self.problems)


def _manifest() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads(MANIFEST.read_text())["models"]
    return entries


def demo_models_ensure(*, report: DemoInferenceReport) -> dict[str, ModelVersion]:
    """Register the committed demo checkpoints that are missing; return one model per task.

    Raises:
        InferenceError: If a committed checkpoint does not match its manifest checksum.
    """
    chosen: dict[str, ModelVersion] = {}
    for entry in _manifest():
        task = ModelTask(entry["task"])
        model = ModelVersion.objects.filter(
            task=task, name=entry["name"], version=entry["version"]
        ).first()
        if model is None:
            path = DEMO_MODELS_DIR / entry["file"]
            if sha256_file(path) != entry["sha256"]:
                raise InferenceError(f"demo checkpoint {path} does not match its manifest sha256")
            model = registry.model_version_register(
                actor=None,
                task=task,
                name=entry["name"],
                version=entry["version"],
                checkpoint=path,
                description=entry["description"],
            )
            report.models_registered += 1
        if not ModelVersion.objects.filter(task=task, is_active=True).exists():
            registry.model_version_activate(actor=None, model_version=model)
            report.models_activated += 1
        chosen[task] = ModelVersion.objects.get(task=task, is_active=True)
    return chosen


def demo_inference_load(*, run_jobs: bool = True) -> DemoInferenceReport:
    """Register the demo models and make sure every demo case has the outputs of each.

    Args:
        run_jobs: Run the new jobs here, through the same service as a worker, so that the
            outputs exist when the call returns (``manage.py demo --run-jobs``, tests);
            otherwise queue them for the workers (``make run``: the server answers at once
            and the jobs page shows their progress).
    """
    report = DemoInferenceReport()
    models = demo_models_ensure(report=report)
    for task, prefix, role in DEMO_RUNS:
        model = models.get(task)
        if model is None:
            continue
        for case in Case.objects.filter(label__startswith=prefix).order_by("label"):
            series = Series.objects.filter(
                study__case=case, role=role, source_series__isnull=True
            ).first()
            if series is None:
                continue
            done_or_waiting = InferenceJob.objects.filter(
                source_series=series,
                model_version__task=task,
                state__in=(JobState.PENDING, JobState.RUNNING, JobState.SUCCEEDED),
            )
            if done_or_waiting.exists():
                continue
            try:
                job = jobs.job_create(
                    actor=None,
                    case=case,
                    source_series=series,
                    model_version=model,
                    enqueue=not run_jobs,
                )
            except InferenceError as exc:
                report.problems.append(f"{case.label}: {exc}")
                continue
            report.jobs_queued += 1
            if run_jobs:
                worker.job_run(job_id=job.pk, heartbeat=False)
                job.refresh_from_db()
                if job.state == JobState.SUCCEEDED:
                    report.jobs_succeeded += 1
                else:
                    report.problems.append(f"{case.label}: {job.state} {job.error}")
    return report
