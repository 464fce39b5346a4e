"""DICOMweb (QIDO-RS, WADO-RS, rendered frames) over the platform's stored instances.

Same authentication as the API (session cookie or ``Authorization: Token``); every request
loads its study through the permission-scoped selectors, so a study the user may not see is a
404 on every path. Frames are read by byte offset from the stored file, never by parsing.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from typing import Any

from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.http.response import HttpResponseBase
from django.utils.cache import patch_vary_headers
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request
from rest_framework.views import APIView

from cases import dicom_json, dicomweb_cache, frames, qido, selectors
from cases.models import Instance, Series

DICOM_JSON = "application/dicom+json"
_NATIVE_SYNTAXES = {"*", frames.EXPLICIT_VR_LITTLE_ENDIAN}


class _AcceptAnything(BaseContentNegotiation):
    """DICOMweb negotiates its own media types; DRF's renderers must not answer 406 first."""

    def select_parser(self, request: Any, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Any, renderers: Any, format_suffix: Any = None) -> Any:
        return (renderers[0], renderers[0].media_type)


def error_response(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"error": message}), status=status, content_type="application/json"
    )


def accepts_multipart(request: HttpRequest | Request, part_type: str) -> bool:
    """Whether the Accept header allows multipart/related parts of ``part_type``, natively."""
    return _accept_allows(request.META.get("HTTP_ACCEPT", ""), part_type)


@functools.lru_cache(maxsize=256)
def _accept_allows(accept: str, part_type: str) -> bool:
    # A viewer sends the same Accept header with every frame request: parse it once.
    if not accept.strip():
        return True
    for media_range in accept.split(","):
        pieces = [piece.strip() for piece in media_range.split(";")]
        media, params = (
            pieces[0].lower(),
            dict(piece.split("=", 1) for piece in pieces[1:] if "=" in piece),
        )
        if media in ("*/*", "multipart/*"):
            return True
        if media == "multipart/related":
            wanted = params.get("type", part_type).strip('"').lower()
            syntax = params.get("transfer-syntax", "*").strip('"')
            if wanted in (part_type, "*/*") and syntax in _NATIVE_SYNTAXES:
                return True
    return False


def base_url(request: Request) -> str:
    return request.build_absolute_uri("/dicomweb").rstrip("/")


def _json_response(text: str) -> HttpResponse:
    return HttpResponse(text, content_type=DICOM_JSON)


class DicomWebView(APIView):
    content_negotiation_class = _AcceptAnything
    schema = None  # DICOMweb is documented by the standard, not by our OpenAPI schema


def _parse_query(request: Request, keys: dict[str, str]) -> qido.Query:
    try:
        return qido.parse_query(dict(request.query_params.lists()), keys)
    except qido.QueryError as exc:
        raise ParseError(str(exc)) from exc


def _paged(queryset: QuerySet[Any], query: qido.Query) -> list[Any]:
    return list(queryset[query.offset : query.offset + query.limit])


def _with_includes(base: dict[str, Any], full: dict[str, Any], query: qido.Query) -> dict[str, Any]:
    if query.include_all:
        return {**full, **base}
    extra = {tag: full[tag] for tag in query.include_tags if tag in full}
    return {**extra, **base}


def unsupported_keys_warning(keys: list[str] | tuple[str, ...]) -> str:
    """The Warning header (PS3.18 8.3.4.3) naming query keys that were ignored.

    The keys are the client's text: control characters, quotes and non-ASCII are escaped, so a
    key holding a line break cannot break the header (Django refuses such a header with a 500).
    """
    names = ", ".join(
        key.encode("unicode_escape").decode("ascii").replace('"', '\\"') for key in keys
    )
    return f'299 sagittal "The following keys are not supported: {names}"'


def _search_response(results: list[dict[str, Any]], query: qido.Query) -> HttpResponse:
    response = _json_response(json.dumps(results, separators=(",", ":")))
    if query.ignored:
        response["Warning"] = unsupported_keys_warning(query.ignored)
    return response


class SearchStudies(DicomWebView):
    def get(self, request: Request) -> HttpResponse:
        query = _parse_query(request, qido.STUDY_KEYS)
        studies = (
            selectors.studies_for_user(user=request.user)
            .filter(query.filters)
            .distinct()
            .annotate(
                n_series=Count("series", distinct=True),
                n_instances=Count("series__instances", distinct=True),
            )
            .order_by("study_instance_uid")
        )
        page = _paged(studies, query)
        modalities = _modalities_by_study([study.pk for study in page])
        results = []
        for study in page:
            computed = {
                "00080061": {"vr": "CS", "Value": modalities.get(study.pk, [])},
                "00081190": {
                    "vr": "UR",
                    "Value": [f"{base_url(request)}/studies/{study.study_instance_uid}"],
                },
                "00201206": {"vr": "IS", "Value": [study.n_series]},
                "00201208": {"vr": "IS", "Value": [study.n_instances]},
            }
            base = {**dicom_json.select(study.attributes, dicom_json.STUDY_TAGS), **computed}
            results.append(_with_includes(base, study.attributes, query))
        return _search_response(results, query)


def _modalities_by_study(study_ids: list[Any]) -> dict[Any, list[str]]:
    """ModalitiesInStudy for the studies of one result page (one query, not one per study)."""
    mapping: dict[Any, list[str]] = {}
    rows = Series.objects.filter(study_id__in=study_ids).values_list("study_id", "modality")
    for study_id, modality in rows.distinct():
        mapping.setdefault(study_id, []).append(modality)
    return {key: sorted(values) for key, values in mapping.items()}


def _series_result(request: Request, series: Series, query: qido.Query) -> dict[str, Any]:
    study_uid = series.study.study_instance_uid
    computed = {
        "0020000D": {"vr": "UI", "Value": [study_uid]},
        "00081190": {
            "vr": "UR",
            "Value": [
                f"{base_url(request)}/studies/{study_uid}/series/{series.series_instance_uid}"
            ],
        },
        "00201209": {"vr": "IS", "Value": [getattr(series, "n_instances", 0)]},
    }
    base = {**dicom_json.select(series.attributes, dicom_json.SERIES_TAGS), **computed}
    return _with_includes(base, {**series.study.attributes, **series.attributes}, query)


class SearchSeries(DicomWebView):
    def get(self, request: Request, study_uid: str | None = None) -> HttpResponse:
        query = _parse_query(request, qido.SERIES_KEYS)
        scope = Q(study__in=selectors.studies_for_user(user=request.user))
        if study_uid is not None:
            selectors.get_study_for_user(user=request.user, study_uid=study_uid)
            scope &= Q(study__study_instance_uid=study_uid)
        series = (
            Series.objects.filter(scope & query.filters)
            .select_related("study")
            .annotate(n_instances=Count("instances"))
            .order_by("series_number", "series_instance_uid")
        )
        results = [_series_result(request, item, query) for item in _paged(series, query)]
        return _search_response(results, query)


class SearchInstances(DicomWebView):
    def get(
        self, request: Request, study_uid: str | None = None, series_uid: str | None = None
    ) -> HttpResponse:
        query = _parse_query(request, qido.INSTANCE_KEYS)
        scope = Q(series__study__in=selectors.studies_for_user(user=request.user))
        if study_uid is not None:
            selectors.get_study_for_user(user=request.user, study_uid=study_uid)
            scope &= Q(series__study__study_instance_uid=study_uid)
        if series_uid is not None:
            scope &= Q(series__series_instance_uid=series_uid)
        instances = (
            Instance.objects.filter(scope & query.filters)
            .select_related("series__study")
            .order_by("series__series_number", "instance_number", "sop_instance_uid")
        )
        results = []
        for instance in _paged(instances, query):
            series, study = instance.series, instance.series.study
            url = (
                f"{base_url(request)}/studies/{study.study_instance_uid}/series/"
                f"{series.series_instance_uid}/instances/{instance.sop_instance_uid}"
            )
            base = {
                **dicom_json.select(instance.attributes, dicom_json.INSTANCE_TAGS),
                "0020000D": {"vr": "UI", "Value": [study.study_instance_uid]},
                "0020000E": {"vr": "UI", "Value": [series.series_instance_uid]},
                "00081190": {"vr": "UR", "Value": [url]},
            }
            full = json.loads(instance.metadata_json) if query.include_all else {}
            if query.include_tags and not full:
                full = json.loads(instance.metadata_json)
            results.append(_with_includes(base, full, query))
        return _search_response(results, query)


_ACCEPTS_GZIP = re.compile(r"\bgzip\b")


def _metadata_response(
    request: Request, key: tuple[Any, ...], texts: Callable[[], list[str]]
) -> HttpResponse:
    """The metadata JSON of ``texts()``, gzipped when the client takes it, built once per key.

    ``key`` must change whenever the answer would (see ``dicomweb_cache``); the request's base
    URL is part of the cached key because bulk data URIs contain it.
    """
    base = base_url(request)
    cache_key = (*key, base)
    body = dicomweb_cache.metadata_bodies.get(cache_key)
    if body is None:
        text = dicom_json.with_base("[" + ",".join(texts()) + "]", base)
        body = dicomweb_cache.MetadataBody(text.encode())
        dicomweb_cache.metadata_bodies.put(cache_key, body)
    if not _ACCEPTS_GZIP.search(request.META.get("HTTP_ACCEPT_ENCODING", "")):
        response = HttpResponse(body.plain, content_type=DICOM_JSON)
    else:
        response = HttpResponse(body.gzipped, content_type=DICOM_JSON)
        response["Content-Encoding"] = "gzip"
    patch_vary_headers(response, ("Accept-Encoding",))
    return response


class StudyMetadata(DicomWebView):
    def get(self, request: Request, study_uid: str) -> HttpResponse:
        study = selectors.get_study_for_user(user=request.user, study_uid=study_uid)
        instances = Instance.objects.filter(series__study=study)
        return _metadata_response(
            request,
            ("study", study.pk, instances.count()),
            lambda: list(
                instances.order_by("series__series_number", "instance_number").values_list(
                    "metadata_json", flat=True
                )
            ),
        )


class SeriesMetadata(DicomWebView):
    def get(self, request: Request, study_uid: str, series_uid: str) -> HttpResponse:
        series = selectors.get_series_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid
        )
        instances = Instance.objects.filter(series=series)
        return _metadata_response(
            request,
            ("series", series.pk, instances.count()),
            lambda: list(
                instances.order_by("instance_number").values_list("metadata_json", flat=True)
            ),
        )


class InstanceMetadata(DicomWebView):
    def get(self, request: Request, study_uid: str, series_uid: str, sop_uid: str) -> HttpResponse:
        instance = selectors.get_instance_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid
        )
        text = dicom_json.with_base("[" + instance.metadata_json + "]", base_url(request))
        return _json_response(text)


def frames_response(
    request: HttpRequest | Request, source: frames.FrameSource, frame_list: str
) -> HttpResponse:
    part_type = frames.frame_part_type(
        request.META.get("HTTP_ACCEPT", ""), source.transfer_syntax_uid
    )
    if part_type is None:
        if source.compressed:
            message = (
                f"frames of this instance are sent as stored ({source.transfer_syntax_uid}): "
                'accept multipart/related; type="application/octet-stream"; transfer-syntax=*'
            )
        else:
            message = "frames are available as uncompressed application/octet-stream"
        return error_response(406, message)
    try:
        numbers = frames.parse_frame_list(frame_list, number_of_frames=source.number_of_frames)
        parts = frames.read_source_frames(source, numbers)
    except frames.FrameError as exc:
        return error_response(400, str(exc))
    return frames.multipart_response(parts, part_type=part_type)


class InstanceFrames(DicomWebView):
    """WADO-RS frames, the request a viewer makes hundreds of times a second.

    Every request here is checked in full (authentication, the permission-scoped selector). It
    leaves the instance's frame source in ``dicomweb_cache``, from which the production server's
    WSGI layer (``dicomweb_fast``) answers the same credentials' next frame requests of the study.
    """

    def get(
        self, request: Request, study_uid: str, series_uid: str, sop_uid: str, frame_list: str
    ) -> HttpResponse:
        instance = selectors.get_instance_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid
        )
        source = frames.frame_source(instance)
        dicomweb_cache.frame_sources.put((study_uid, series_uid, sop_uid), source)
        return frames_response(request, source, frame_list)


def pixel_data_response(
    request: HttpRequest | Request, instance: Instance, tag: str
) -> HttpResponse:
    """WADO-RS bulk data: the pixel data as stored (one part, or one per compressed frame)."""
    if tag.upper() != dicom_json.PIXEL_DATA:
        return error_response(404, "only pixel data is available as bulk data")
    part_type = frames.frame_part_type(
        request.META.get("HTTP_ACCEPT", ""), instance.transfer_syntax_uid
    )
    if part_type is None:
        return error_response(406, f"pixel data is sent as stored ({instance.transfer_syntax_uid})")
    source = frames.frame_source(instance)
    try:
        if source.compressed:
            parts = frames.read_source_frames(source, range(1, source.number_of_frames + 1))
        else:
            parts = [frames.read_pixel_data(instance)]
    except frames.FrameError as exc:
        return error_response(400, str(exc))
    return frames.multipart_response(parts, part_type=part_type)


class InstanceBulkData(DicomWebView):
    def get(
        self, request: Request, study_uid: str, series_uid: str, sop_uid: str, tag: str
    ) -> HttpResponse:
        instance = selectors.get_instance_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid
        )
        return pixel_data_response(request, instance, tag)


class RetrieveInstance(DicomWebView):
    def get(self, request: Request, study_uid: str, series_uid: str, sop_uid: str) -> HttpResponse:
        instance = selectors.get_instance_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid
        )
        if not accepts_multipart(request, "application/dicom"):
            return error_response(406, "instances are available as application/dicom")
        part_type = f"application/dicom; transfer-syntax={instance.transfer_syntax_uid}"
        return frames.multipart_response([frames.read_file(instance)], part_type=part_type)


class RetrieveSeries(DicomWebView):
    def get(self, request: Request, study_uid: str, series_uid: str) -> HttpResponseBase:
        series = selectors.get_series_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid
        )
        if not accepts_multipart(request, "application/dicom"):
            return error_response(406, "instances are available as application/dicom")
        keys = list(
            series.instances.order_by("instance_number").values_list("storage_key", flat=True)
        )
        # A series can be gigabytes: files are read one at a time while the answer streams.
        return frames.multipart_streaming_response(
            (frames.read_stored(key) for key in keys), part_type="application/dicom"
        )


class RenderedFrame(DicomWebView):
    def get(
        self,
        request: Request,
        study_uid: str,
        series_uid: str,
        sop_uid: str,
        frame_number: int = 1,
    ) -> HttpResponse:
        instance = selectors.get_instance_for_user(
            user=request.user, study_uid=study_uid, series_uid=series_uid, sop_uid=sop_uid
        )
        size_text = request.query_params.get("viewport", "").split(",")[0]
        size = int(size_text) if size_text.isdigit() else None
        if size is not None and not 8 <= size <= 2048:
            return error_response(400, "viewport must be between 8 and 2048 pixels")
        try:
            frames.parse_frame_list(str(frame_number), number_of_frames=instance.number_of_frames)
            png = frames.render_png(instance, frame_number, size=size)
        except frames.FrameError as exc:
            return error_response(400, str(exc))
        return HttpResponse(png, content_type="image/png")
