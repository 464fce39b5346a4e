"""Synthetic spine phantoms (CT, MRI, masks) and their DICOM writer.

Deterministic by seed and free of Django, so the demo, the tests and the benchmarks get
realistic, co-registered spine data that nobody has to download::

    from inference.phantoms import generate_cervical_case, write_cervical_case_dicom

    phantom = generate_cervical_case(seed=7, findings={"cord_edema"})
    files = write_cervical_case_dicom(
        phantom, out_dir, patient_name="PHANTOM^CERVICAL^007", patient_id="PH007"
    )
    files["CT"], files["MRI-T2"]
"""

from inference.phantoms.anatomy import Segment
from inference.phantoms.cases import (
    ROLE_CT,
    ROLE_DECT_MIXED,
    ROLE_MRI_T2,
    ROLE_MRM,
    ROLE_NCCTM_MASK,
    write_cervical_case_dicom,
    write_cervical_ct_dicom,
    write_lumbar_case_dicom,
)
from inference.phantoms.cervical import (
    CERVICAL_DEFAULT_SHAPE,
    CERVICAL_INJURY_LEVELS,
    CervicalPhantom,
    generate_cervical_case,
)
from inference.phantoms.cervical_geometry import CERVICAL_FOV_MM
from inference.phantoms.dicom_writer import (
    CTParameters,
    MRParameters,
    build_ct_series,
    build_mr_series,
    save_series,
    slice_positions,
    write_ct_series,
    write_mr_series,
)
from inference.phantoms.labels import (
    CANAL_STENOSIS,
    CERVICAL_FINDINGS,
    CORD_EDEMA,
    DISC_INJURY,
    LIGAMENT_INJURY,
    RETROPHARYNGEAL_HEMATOMA,
    CervicalLabel,
    LumbarLabel,
)
from inference.phantoms.lumbar import (
    LUMBAR_DEFAULT_LEVELS,
    LUMBAR_DEFAULT_SHAPE,
    LumbarPhantom,
    generate_lumbar_case,
)
from inference.phantoms.segmentation import build_segmentation, save_segmentation
from inference.phantoms.study import StudyInfo, phantom_uid

__all__ = [
    "CANAL_STENOSIS",
    "CERVICAL_DEFAULT_SHAPE",
    "CERVICAL_FINDINGS",
    "CERVICAL_FOV_MM",
    "CERVICAL_INJURY_LEVELS",
    "CORD_EDEMA",
    "DISC_INJURY",
    "LIGAMENT_INJURY",
    "LUMBAR_DEFAULT_LEVELS",
    "LUMBAR_DEFAULT_SHAPE",
    "RETROPHARYNGEAL_HEMATOMA",
    "ROLE_CT",
    "ROLE_DECT_MIXED",
    "ROLE_MRI_T2",
    "ROLE_MRM",
    "ROLE_NCCTM_MASK",
    "CTParameters",
    "CervicalLabel",
    "CervicalPhantom",
    "LumbarLabel",
    "LumbarPhantom",
    "MRParameters",
    "Segment",
    "StudyInfo",
    "build_ct_series",
    "build_mr_series",
    "build_segmentation",
    "generate_cervical_case",
    "generate_lumbar_case",
    "phantom_uid",
    "save_segmentation",
    "save_series",
    "slice_positions",
    "write_cervical_case_dicom",
    "write_cervical_ct_dicom",
    "write_ct_series",
    "write_lumbar_case_dicom",
    "write_mr_series",
]
