"""Pure statistics for reader studies: no Django, plain Python or NumPy data in, frozen
dataclasses of plain floats out (``result.as_dict()`` for JSON or export).

Built on statsmodels, scipy and scikit-learn wherever they have the tested function; the few
pieces written here (kappa null SEs for Fleiss, ICC, exact Wilcoxon with ties) are checked
against published cases (``tests/readerstudy/statistics/reference_vectors.json``).

Conventions:
    * Categories come from the question schema and all count, used or not.
    * Degenerate input (empty, one category only, zero variance) gives NaN fields and a
      ``reason``, never an exception and never a misleading 0 or 1; paired inputs of different
      lengths and labels outside the declared categories are a ``ValueError``.
    * Numeric functions drop incomplete pairs or subjects (NaN) and report the ``n`` used.
"""

from ._base import Result
from .agreement import CohenKappa, FleissKappa, cohen_kappa, cohen_kappa_from_table, fleiss_kappa
from .beyond_kappa import GwetAC, KrippendorffAlpha, Pabak, gwet_ac, krippendorff_alpha, pabak
from .continuous import BlandAltman, Cnr, Icc, IccForm, Pearson, bland_altman, cnr, icc, pearson
from .proportions import (
    DiagnosticAccuracy,
    McNemar,
    WilsonInterval,
    diagnostic_accuracy,
    mcnemar,
    wilson_ci,
)
from .rank_tests import Wilcoxon, wilcoxon_signed_rank
from .segmentation import SegmentationOverlap, segmentation_overlap

__all__ = [
    "BlandAltman",
    "Cnr",
    "CohenKappa",
    "DiagnosticAccuracy",
    "FleissKappa",
    "GwetAC",
    "Icc",
    "IccForm",
    "KrippendorffAlpha",
    "McNemar",
    "Pabak",
    "Pearson",
    "Result",
    "SegmentationOverlap",
    "Wilcoxon",
    "WilsonInterval",
    "bland_altman",
    "cnr",
    "cohen_kappa",
    "cohen_kappa_from_table",
    "diagnostic_accuracy",
    "fleiss_kappa",
    "gwet_ac",
    "icc",
    "krippendorff_alpha",
    "mcnemar",
    "pabak",
    "pearson",
    "segmentation_overlap",
    "wilcoxon_signed_rank",
    "wilson_ci",
]
