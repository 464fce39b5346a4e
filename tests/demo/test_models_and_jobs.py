"""The inference part of ``manage.py demo``: committed demo models, jobs on the demo cases."""

from __future__ import annotations

import io
import json

import numpy as np
import pydicom
import pytest
from demo.models_and_jobs import DEMO_MODELS_DIR, MANIFEST, demo_inference_load

from accounts.models import AuditEvent
from cases.models import Case, Instance, SeriesRole
from cases.storage import open_stored
from inference.common import sha256_file
from inference.models import InferenceJob, JobState, ModelVersion
from inference.phantoms import generate_lumbar_case
from readerstudy.statistics import segmentation_overlap
from tests.inference.helpers import LUMBAR_SHAPE

pytestmark = pytest.mark.django_db


def test_the_committed_demo_models_match_their_manifest() -> None:
    entries = json.loads(MANIFEST.read_text())["models"]
    assert {entry["task"] for entry in entries} >= {"ncctm"}
    for entry in entries:
        path = DEMO_MODELS_DIR / entry["file"]
        assert sha256_file(path) == entry["sha256"], entry["file"]
        assert path.stat().st_size < 5 * 1024 * 1024  # small enough to commit
        assert "manage.py train_" in entry["command"]


def test_demo_registers_models_runs_jobs_once_and_the_mask_finds_the_canal(
    lumbar_case: Case, cervical_case: Case
) -> None:
    report = demo_inference_load()
    assert report.problems == [], report.problems
    assert (report.models_registered, report.models_activated) == (2, 2)
    assert report.jobs_succeeded == 2
    model = ModelVersion.objects.get(task="ncctm", is_active=True)
    assert model.name == "ncctm-unet-demo"
    job = InferenceJob.objects.get(case=lumbar_case)
    assert job.state == JobState.SUCCEEDED and job.model_version == model
    pseudo = InferenceJob.objects.get(case=cervical_case)
    assert pseudo.state == JobState.SUCCEEDED
    assert pseudo.output_series.get().role == SeriesRole.PSEUDO_MRI

    # The committed model was trained on finer phantoms; on this small one it still finds
    # the canal (the job resamples to the model's spacing and back).
    mask_series = job.output_series.get(modality="CT")
    assert mask_series.role == SeriesRole.NCCTM_MASK
    slices = []
    for instance in mask_series.instances.order_by("instance_number"):
        with open_stored(instance.storage_key) as handle:
            slices.append(pydicom.dcmread(io.BytesIO(handle.read())).pixel_array)
    predicted = np.stack(slices) > 0
    reference = generate_lumbar_case(seed=7, shape=LUMBAR_SHAPE).dural_canal_mask > 0
    assert segmentation_overlap(predicted, reference).dice > 0.7

    counts = (ModelVersion.objects.count(), InferenceJob.objects.count(), Instance.objects.count())
    events = AuditEvent.objects.count()
    again = demo_inference_load()
    assert (again.models_registered, again.jobs_queued) == (0, 0)
    assert (
        ModelVersion.objects.count(),
        InferenceJob.objects.count(),
        Instance.objects.count(),
    ) == counts
    assert AuditEvent.objects.count() == events
