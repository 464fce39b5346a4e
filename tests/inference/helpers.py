"""Small helpers shared by the inference tests."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pydicom

from cases.models import Case, Series, SeriesRole
from inference.dicom_outputs import Provenance, ncctm_segmentation
from inference.models import InferenceJob, ModelBackend, ModelTask, ModelVersion
from inference.ncctm import STRUCTURES
from inference.ncctm.data import lumbar_structure_labels
from inference.phantoms import (
    ROLE_CT,
    ROLE_DECT_MIXED,
    ROLE_MRI_T2,
    generate_cervical_case,
    generate_lumbar_case,
    write_cervical_case_dicom,
    write_lumbar_case_dicom,
)
from inference.series_io import CTVolume, volume_from_datasets

#: Phantom shapes of the test cases: small, quick to import, still a CT volume.
LUMBAR_SHAPE = (16, 64, 64)
CERVICAL_SHAPE = (12, 64, 64)


def series_of(case: Case, role: SeriesRole) -> Series:
    """The acquired (not derived) series of ``case`` with ``role``."""
    return Series.objects.get(study__case=case, role=role, source_series__isnull=True)


def write_ncctm_cases_dir(
    root: Path, seeds: Sequence[int], *, shape: tuple[int, int, int] = LUMBAR_SHAPE
) -> Path:
    """A cases directory of lumbar phantoms: ``<case>/ct/`` and ``<case>/label/seg.dcm``.

    The CT is the phantom writer's; the label is written as a SEG by our own output code
    (``inference.dicom_outputs``), referencing the CT slices as a SEG made by a hospital's
    segmentation tool does. Case folders are named after the (fake) patient IDs.
    """
    for seed in seeds:
        case = root / f"PATIENT-L{seed}"
        phantom = generate_lumbar_case(seed=seed, shape=shape)
        files = write_lumbar_case_dicom(
            phantom, case / "written", patient_name=f"DOE^L{seed}", patient_id=f"MRN-L{seed}"
        )
        (case / "written" / ROLE_DECT_MIXED).rename(case / "ct")
        ct_files = [case / "ct" / p.name for p in files[ROLE_DECT_MIXED]]
        volume = volume_from_datasets([pydicom.dcmread(p) for p in ct_files])
        assert np.array_equal(volume.hu, phantom.mixed_ct_hu)  # slice order as written
        seg = ncctm_segmentation(
            volume,
            lumbar_structure_labels(phantom.labels),
            provenance=reference_provenance(volume),
            structures=STRUCTURES,
        )
        (case / "label").mkdir()
        seg.save_as(case / "label" / "seg.dcm", enforce_file_format=True)
        shutil.rmtree(case / "written")
    return root


def write_pseudomri_cases_dir(
    root: Path, seeds: Sequence[int], *, shape: tuple[int, int, int] = CERVICAL_SHAPE
) -> Path:
    """A cases directory of cervical phantoms: ``<case>/ct/`` and ``<case>/mri/`` (paired)."""
    for seed in seeds:
        case = root / f"PATIENT-C{seed}"
        phantom = generate_cervical_case(seed=seed, shape=shape)
        write_cervical_case_dicom(
            phantom, case / "written", patient_name=f"DOE^C{seed}", patient_id=f"MRN-C{seed}"
        )
        (case / "written" / ROLE_CT).rename(case / "ct")
        (case / "written" / ROLE_MRI_T2).rename(case / "mri")
        (case / "written").rmdir()
    return root


def reference_provenance(volume: CTVolume) -> Provenance:
    """Provenance of a reference label written with our SEG code (tests only)."""
    return Provenance(
        job_id="reference",
        task="ncctm",
        model_name="manual reference",
        model_version="1",
        model_sha256="0" * 64,
        source_series_uid=str(volume.datasets[0].SeriesInstanceUID),
        created=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
    )


def write_tiny_sd_pipeline(directory: Path) -> Path:
    """Save a Stable Diffusion img2img pipeline with random weights and a toy tokenizer."""
    import torch
    from diffusers import (
        AutoencoderKL,
        DDIMScheduler,
        StableDiffusionImg2ImgPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        sample_size=32,
        in_channels=4,
        out_channels=4,
        block_out_channels=(8, 16),
        layers_per_block=1,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
        cross_attention_dim=16,
        attention_head_dim=2,
        norm_num_groups=4,
    )
    vae = AutoencoderKL(
        in_channels=3,
        out_channels=3,
        block_out_channels=(8, 16),
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
    )
    # A byte-level BPE vocabulary of single letters: enough for the CLIP tokenizer to load.
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz0123456789-":
        vocab.setdefault(letter, len(vocab))
        vocab.setdefault(f"{letter}</w>", len(vocab))
    (directory / "vocab.json").write_text(json.dumps(vocab))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(
        vocab_file=str(directory / "vocab.json"),
        merges_file=str(directory / "merges.txt"),
        model_max_length=16,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            intermediate_size=32,
            num_attention_heads=2,
            num_hidden_layers=1,
            max_position_embeddings=16,
            projection_dim=16,
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
        )
    )
    pipeline: Any = StableDiffusionImg2ImgPipeline(
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=DDIMScheduler(clip_sample=False, steps_offset=1),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory / "pipeline")
    return directory / "pipeline"


def unregistered_job(case: Case, series: Series, **fields: Any) -> InferenceJob:
    """A job row of a model version that exists only in the database (pages and permissions
    need the rows, not a checkpoint): what a page shows of a job, without running one."""
    model = ModelVersion.objects.create(
        task=ModelTask.PSEUDO_MRI,
        backend=ModelBackend.PSEUDOMRI_DDIM,
        name="pseudomri-tiny",
        version="1",
        checkpoint="m.pt",
        sha256="0" * 64,
    )
    return InferenceJob.objects.create(
        case=case, source_series=series, model_version=model, **fields
    )
