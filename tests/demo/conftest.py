"""The demo builds on the phantom cases the inference and reader-study tests make: their
fixtures, registered here by name (``private_models_dir`` is autouse: registered checkpoints
go to each test's own folder)."""

from tests.inference.conftest import (
    cervical_case,
    cervical_files,
    lumbar_case,
    lumbar_files,
    private_models_dir,
)
from tests.readerstudy.conftest import cervical_dicom, lumbar_dicom

__all__ = [
    "cervical_case",
    "cervical_dicom",
    "cervical_files",
    "lumbar_case",
    "lumbar_dicom",
    "lumbar_files",
    "private_models_dir",
]
