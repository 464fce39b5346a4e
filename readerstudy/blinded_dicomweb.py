"""Reader-scoped, blinded DICOMweb: ``/reading/dicomweb/<assignment>/studies/...``.

The same resource paths as ``/dicomweb/`` (QIDO-RS series and instances, WADO-RS metadata,
frames, pixel bulk data, rendered frames), served by the same code in ``cases`` (``frames``,
``dicom_json`` and the DICOMweb helpers), but every UID is the assignment's blinded one and every
header goes through ``blinding.scrub_instance``. Each case of the reader's order is one blinded
study holding the series of its viewports. A whole instance (the viewer reads SEG overlays that
way) is rebuilt from the blinded header and the stored pixel data; whole studies and series are
not served here.

Access: the reader of the assignment only, while the session is open for them (washout
passed), for the cases up to the next one in their order; anything else is a 404.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.http import Http404, HttpResponse
from rest_framework.request import Request

from cases import dicom_io, dicom_json, frames
from cases import dicomweb as plain
from cases.models import Instance, Series
from readerstudy import blinding, selectors
from readerstudy.models import ReaderAssignment, SlotPlacement

_INSTANCE_QIDO_TAGS = tuple(tag for tag in dicom_json.INSTANCE_TAGS if tag != "00080008")
_FILTER_KEYS = {
    "StudyInstanceUID": "0020000D",
    "SeriesInstanceUID": "0020000E",
    "SOPInstanceUID": "00080018",
    "Modality": "00080060",
}
_CONTROL_KEYS = {"limit", "offset", "includefield", "fuzzymatching"}


@dataclass(frozen=True)
class BlindSeries:
    """One series as a reader sees it: a viewport's images or its overlay."""

    placement: SlotPlacement
    series: Series
    uid: str
    overlay: bool

    @property
    def number(self) -> int:
        return self.placement.slot_index + 1 + (100 if self.overlay else 0)

    @property
    def description(self) -> str:
        return f"{self.placement.slot} overlay" if self.overlay else self.placement.slot


class BlindCase:
    """The blinded study of one case of one assignment, with its UID mapping."""

    def __init__(self, assignment: ReaderAssignment, placements: list[SlotPlacement]) -> None:
        self.assignment = assignment
        self.placements = placements
        self.study_case = placements[0].study_case
        self.uid = placements[0].blinded_study_uid
        self.position = selectors.position_of(assignment, self.study_case.pk)
        self.series: list[BlindSeries] = []
        for placement in placements:
            self.series.append(
                BlindSeries(placement, placement.series, placement.blinded_series_uid, False)
            )
            if placement.overlay_series is not None:
                self.series.append(
                    BlindSeries(
                        placement,
                        placement.overlay_series,
                        placement.blinded_overlay_series_uid,
                        True,
                    )
                )

    def find_series(self, uid: str) -> BlindSeries:
        for item in self.series:
            if item.uid == uid:
                return item
        raise Http404("No such series.")

    @staticmethod
    def instances(series: Series) -> list[Instance]:
        return list(series.instances.order_by("instance_number", "sop_instance_uid"))

    def find_instance(self, series_uid: str, sop_uid: str) -> tuple[BlindSeries, int, Instance]:
        blind = self.find_series(series_uid)
        parsed = blinding.parse_instance_uid(sop_uid)
        if parsed is None or parsed[0] != blind.uid:
            raise Http404("No such instance.")
        index = parsed[1]
        instance = blind.series.instances.order_by("instance_number", "sop_instance_uid")[
            index - 1 : index
        ].first()
        if instance is None:
            raise Http404("No such instance.")
        return blind, index, instance

    @cached_property
    def uid_map(self) -> dict[str, str]:
        """Original -> blinded UIDs of every study, series and instance the case shows."""
        mapping: dict[str, str] = {}
        for blind in self.series:
            mapping[blind.series.study.study_instance_uid] = self.uid
            mapping[blind.series.series_instance_uid] = blind.uid
            sops = blind.series.instances.order_by("instance_number", "sop_instance_uid")
            for index, sop in enumerate(sops.values_list("sop_instance_uid", flat=True), start=1):
                mapping[sop] = blinding.instance_uid(blind.uid, index)
        return mapping

    def fallback_uid(self, uid: str) -> str:
        # Frame of reference and any other UID: the same blinded value for every series of
        # the case, so CT and MRI still share their frame of reference and scroll together.
        secret = self.assignment.session.study.blinding_secret
        return blinding.blinded_uid(secret, self.assignment.pk, self.study_case.pk, "uid", uid)

    def metadata(
        self, base: str, blind: BlindSeries, index: int, instance: Instance
    ) -> dict[str, Any]:
        sop_uid = blinding.instance_uid(blind.uid, index)
        uri = f"{base}/studies/{self.uid}/series/{blind.uid}/instances/{sop_uid}/bulkdata/7FE00010"
        stored = json.loads(instance.metadata_json)
        needs_references = any(tag in stored for tag in ("00081115", "52009230"))
        return blinding.scrub_instance(
            stored,
            uid_map=self.uid_map if needs_references else self._own_uids(blind, index, instance),
            fallback_uid=self.fallback_uid,
            replacements={
                "00100010": blinding.text_element("PN", f"Case {self.position}"),
                "00100020": blinding.text_element("LO", f"case-{self.position}"),
                "0020000D": {"vr": "UI", "Value": [self.uid]},
                "0020000E": {"vr": "UI", "Value": [blind.uid]},
                "00080018": {"vr": "UI", "Value": [sop_uid]},
                "0008103E": blinding.text_element("LO", blind.description),
                "00200011": blinding.int_element("IS", blind.number),
                "00200013": blinding.int_element("IS", index),
            },
            pixel_data_uri=uri,
        )

    def _own_uids(self, blind: BlindSeries, index: int, instance: Instance) -> dict[str, str]:
        return {
            blind.series.study.study_instance_uid: self.uid,
            blind.series.series_instance_uid: blind.uid,
            instance.sop_instance_uid: blinding.instance_uid(blind.uid, index),
        }


class BlindedView(plain.DicomWebView):
    """Resolves the assignment and the blinded study of a request (404 for anything else)."""

    def base(self, request: Request, assignment: ReaderAssignment) -> str:
        return request.build_absolute_uri(f"/reading/dicomweb/{assignment.pk}").rstrip("/")

    def cases(self, request: Request, assignment_id: Any) -> list[BlindCase]:
        assignment, visible = selectors.get_viewable_assignment_for_user(
            user=request.user, assignment_id=assignment_id
        )
        placements = (
            SlotPlacement.objects.filter(
                assignment=assignment, study_case_id__in=[uuid.UUID(pk) for pk in visible]
            )
            .select_related("series__study", "overlay_series__study", "study_case")
            .order_by("slot_index")
        )
        grouped: dict[str, list[SlotPlacement]] = {}
        for placement in placements:
            grouped.setdefault(str(placement.study_case_id), []).append(placement)
        return [
            BlindCase(assignment, grouped[case_id]) for case_id in visible if case_id in grouped
        ]

    def case(self, request: Request, assignment_id: Any, study_uid: str) -> BlindCase:
        for blind_case in self.cases(request, assignment_id):
            if blind_case.uid == study_uid:
                return blind_case
        raise Http404("No such study.")


def _filters(request: Request) -> tuple[dict[str, set[str]], list[str], int, int]:
    wanted: dict[str, set[str]] = {}
    ignored = []
    for key, values in request.query_params.lists():
        if key in _CONTROL_KEYS:
            continue
        tag = _FILTER_KEYS.get(key)
        if tag is None:
            ignored.append(key)
            continue
        wanted[tag] = {
            part for value in values for part in value.replace("\\", ",").split(",") if part
        }

    def number(name: str, default: int) -> int:
        raw = request.query_params.get(name, "")
        if raw == "":
            return default
        if not raw.isdigit():
            raise ValueError(f"{name} must be a non-negative integer")
        return int(raw)

    return wanted, ignored, number("limit", 1000), number("offset", 0)


def _search(request: Request, results: list[dict[str, Any]]) -> HttpResponse:
    try:
        wanted, ignored, limit, offset = _filters(request)
    except ValueError as exc:
        return plain.error_response(400, str(exc))
    chosen = [
        item
        for item in results
        if all(
            (item.get(tag, {}).get("Value") or [None])[0] in values
            for tag, values in wanted.items()
        )
    ][offset : offset + min(limit, 1000)]
    response = HttpResponse(
        json.dumps(chosen, separators=(",", ":")), content_type=plain.DICOM_JSON
    )
    if ignored:
        response["Warning"] = plain.unsupported_keys_warning(ignored)
    return response


def _ui(value: str) -> dict[str, Any]:
    return {"vr": "UI", "Value": [value]}


class SearchStudies(BlindedView):
    def get(self, request: Request, assignment_id: str) -> HttpResponse:
        results = []
        for blind_case in self.cases(request, assignment_id):
            base = self.base(request, blind_case.assignment)
            results.append(
                {
                    "0020000D": _ui(blind_case.uid),
                    "00100010": blinding.text_element("PN", f"Case {blind_case.position}"),
                    "00100020": blinding.text_element("LO", f"case-{blind_case.position}"),
                    "00080061": {
                        "vr": "CS",
                        "Value": sorted({b.series.modality for b in blind_case.series}),
                    },
                    "00201206": blinding.int_element("IS", len(blind_case.series)),
                    "00201208": blinding.int_element(
                        "IS", sum(b.series.instances.count() for b in blind_case.series)
                    ),
                    "00081190": {"vr": "UR", "Value": [f"{base}/studies/{blind_case.uid}"]},
                }
            )
        return _search(request, results)


class SearchSeries(BlindedView):
    def get(self, request: Request, assignment_id: str, study_uid: str) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        base = self.base(request, blind_case.assignment)
        results = [
            {
                "0020000D": _ui(blind_case.uid),
                "0020000E": _ui(blind.uid),
                "00080060": {"vr": "CS", "Value": [blind.series.modality]},
                "0008103E": blinding.text_element("LO", blind.description),
                "00200011": blinding.int_element("IS", blind.number),
                "00201209": blinding.int_element("IS", blind.series.instances.count()),
                "00081190": {
                    "vr": "UR",
                    "Value": [f"{base}/studies/{blind_case.uid}/series/{blind.uid}"],
                },
            }
            for blind in blind_case.series
        ]
        return _search(request, results)


class SearchInstances(BlindedView):
    def get(
        self, request: Request, assignment_id: str, study_uid: str, series_uid: str | None = None
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        base = self.base(request, blind_case.assignment)
        chosen = [blind_case.find_series(series_uid)] if series_uid else blind_case.series
        results = []
        for blind in chosen:
            for index, instance in enumerate(blind_case.instances(blind.series), start=1):
                meta = blind_case.metadata(base, blind, index, instance)
                sop_uid = blinding.instance_uid(blind.uid, index)
                results.append(
                    {
                        **dicom_json.select(meta, _INSTANCE_QIDO_TAGS),
                        "0020000D": _ui(blind_case.uid),
                        "0020000E": _ui(blind.uid),
                        "00081190": {
                            "vr": "UR",
                            "Value": [
                                f"{base}/studies/{blind_case.uid}/series/{blind.uid}"
                                f"/instances/{sop_uid}"
                            ],
                        },
                    }
                )
        return _search(request, results)


def _metadata_response(items: list[dict[str, Any]]) -> HttpResponse:
    return HttpResponse(json.dumps(items, separators=(",", ":")), content_type=plain.DICOM_JSON)


class StudyMetadata(BlindedView):
    def get(self, request: Request, assignment_id: str, study_uid: str) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        base = self.base(request, blind_case.assignment)
        return _metadata_response(
            [
                blind_case.metadata(base, blind, index, instance)
                for blind in blind_case.series
                for index, instance in enumerate(blind_case.instances(blind.series), start=1)
            ]
        )


class SeriesMetadata(BlindedView):
    def get(
        self, request: Request, assignment_id: str, study_uid: str, series_uid: str
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        blind = blind_case.find_series(series_uid)
        base = self.base(request, blind_case.assignment)
        return _metadata_response(
            [
                blind_case.metadata(base, blind, index, instance)
                for index, instance in enumerate(blind_case.instances(blind.series), start=1)
            ]
        )


class InstanceMetadata(BlindedView):
    def get(
        self, request: Request, assignment_id: str, study_uid: str, series_uid: str, sop_uid: str
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        blind, index, instance = blind_case.find_instance(series_uid, sop_uid)
        base = self.base(request, blind_case.assignment)
        return _metadata_response([blind_case.metadata(base, blind, index, instance)])


class InstanceFrames(BlindedView):
    def get(
        self,
        request: Request,
        assignment_id: str,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        frame_list: str,
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        _, _, instance = blind_case.find_instance(series_uid, sop_uid)
        return plain.frames_response(request, frames.frame_source(instance), frame_list)


class InstanceBulkData(BlindedView):
    def get(
        self,
        request: Request,
        assignment_id: str,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        tag: str,
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        _, _, instance = blind_case.find_instance(series_uid, sop_uid)
        return plain.pixel_data_response(request, instance, tag)


class RenderedFrame(BlindedView):
    def get(
        self,
        request: Request,
        assignment_id: str,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        frame_number: int = 1,
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        _, _, instance = blind_case.find_instance(series_uid, sop_uid)
        size_text = request.query_params.get("viewport", "").split(",")[0]
        size = int(size_text) if size_text.isdigit() else None
        if size is not None and not 8 <= size <= 2048:
            return plain.error_response(400, "viewport must be between 8 and 2048 pixels")
        try:
            frames.parse_frame_list(str(frame_number), number_of_frames=instance.number_of_frames)
            png = frames.render_png(instance, frame_number, size=size)
        except frames.FrameError as exc:
            return plain.error_response(400, str(exc))
        return HttpResponse(png, content_type="image/png")


class RetrieveInstance(BlindedView):
    """A whole instance, rebuilt from the blinded header and the stored pixel data."""

    def get(
        self, request: Request, assignment_id: str, study_uid: str, series_uid: str, sop_uid: str
    ) -> HttpResponse:
        blind_case = self.case(request, assignment_id, study_uid)
        blind, index, instance = blind_case.find_instance(series_uid, sop_uid)
        if not plain.accepts_multipart(request, "application/dicom"):
            return plain.error_response(406, "instances are available as application/dicom")
        base = self.base(request, blind_case.assignment)
        metadata = blind_case.metadata(base, blind, index, instance)
        stored = dicom_io.parse_instance(frames.read_file(instance)).dataset
        dataset = blinding.part10_dataset(
            metadata,
            pixel_data=stored.data_element("PixelData"),
            transfer_syntax_uid=instance.transfer_syntax_uid,
        )
        part_type = f"application/dicom; transfer-syntax={instance.transfer_syntax_uid}"
        body, content_type = frames.multipart_related(
            [dicom_io.serialize_instance(dataset)], part_type=part_type
        )
        return HttpResponse(body, content_type=content_type)
