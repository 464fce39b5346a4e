"""A WSGI layer that answers a viewer's repeated frame requests without running Django again.

A viewer scrolling a CT asks for hundreds of frames a second, every one with the same
credentials and headers, for the same study. The first frame request of a study goes the whole
way through Django: its middleware, DRF authentication and the permission-scoped selector (a
study the user may not see is 404). When Django answers it ``200``, this layer records a grant:
*this request context* (the ``Authorization`` header, the session cookie, Host, scheme, Accept,
query string) may read frames of *that study*, together with the headers Django's answer
carried (its security headers, ``Vary``, ``Allow``). For ``DICOMWEB_ACCESS_CACHE_SECONDS``
(default 5, ``0`` turns this layer off) the same context's frame requests of that study are
answered here: the instance's frame source that Django's view cached, one ``pread`` per frame,
Django's own headers. Whatever this layer cannot answer exactly as Django would (no grant, any
other header value, an instance Django has not served yet, a malformed frame list, a file that
is gone) goes to Django, which decides.

So a grant never covers another credential, another study, or a request Django would answer
differently; what it does mean is that a revoked role or token, or a deleted study, stops
frames on a worker within that many seconds. Credentials are kept only inside SHA-256 digests.

``scripts/serve-prod.sh`` serves ``config.wsgi.fast_application`` (Django behind this layer);
the development server and the test client use ``config.wsgi.application``, where every request
goes through Django.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.http.cookie import parse_cookie

from cases import frames
from cases.dicomweb_cache import Grant, frame_sources, grants

StartResponse = Callable[..., Any]
WSGIApplication = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

# The frames route of cases.dicomweb_urls under config.urls (a test keeps them in step); frame
# lists other than digits and commas are Django's to refuse.
FRAMES_PATH = re.compile(
    r"/dicomweb/studies/([0-9.]{1,64})/series/([0-9.]{1,64})/instances/([0-9.]{1,64})"
    r"/frames/([0-9,]{1,200})"
)
# Headers of Django's answer that describe that one body or that connection, or that must never
# be sent twice (a cookie).
_NOT_REPLAYED = frozenset(
    {"content-type", "content-length", "set-cookie", "connection", "transfer-encoding", "date"}
)


def _context_digest(environ: dict[str, Any]) -> str | None:
    """What identifies the request's credentials and everything else Django's answer depends on."""
    authorization = environ.get("HTTP_AUTHORIZATION", "")
    cookies = environ.get("HTTP_COOKIE", "")
    session = parse_cookie(cookies).get(settings.SESSION_COOKIE_NAME, "") if cookies else ""
    if not authorization and not session:
        return None
    proxy_header = settings.SECURE_PROXY_SSL_HEADER
    context = (
        authorization,
        session,
        environ.get("HTTP_HOST", ""),
        environ.get("SERVER_NAME", ""),
        str(environ.get("SERVER_PORT", "")),
        environ.get("wsgi.url_scheme", ""),
        environ.get(proxy_header[0], "") if proxy_header else "",
        environ.get("HTTP_ACCEPT", ""),
        environ.get("SCRIPT_NAME", ""),
        environ.get("QUERY_STRING", ""),
    )
    return hashlib.sha256("\0".join(context).encode("utf-8", "surrogateescape")).hexdigest()


def _granted_answer(
    digest: str, study: str, series: str, sop: str, frame_list: str, accept: str
) -> tuple[list[tuple[str, str]], list[bytes]] | None:
    grant = grants.get((digest, study))
    if grant is None:
        return None
    if grant.deadline < time.monotonic():
        grants.pop((digest, study))
        return None
    source = frame_sources.get((study, series, sop))
    if source is None:
        return None
    part_type = frames.frame_part_type(accept, source.transfer_syntax_uid)
    if part_type is None:  # Django answers 406
        return None
    try:
        numbers = frames.parse_frame_list(frame_list, number_of_frames=source.number_of_frames)
        parts = frames.read_source_frames(source, numbers)
    except frames.FrameError:
        return None
    except FileNotFoundError:  # the study was deleted: Django answers 404
        frame_sources.pop((study, series, sop))
        return None
    chunks, content_type = frames.multipart_chunks(parts, part_type=part_type)
    length = str(sum(len(chunk) for chunk in chunks))
    return [("Content-Type", content_type), ("Content-Length", length), *grant.headers], chunks


class FramesFastPath:
    """WSGI middleware: frame requests under a grant answered here, everything else by ``app``."""

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        match = (
            FRAMES_PATH.fullmatch(environ.get("PATH_INFO", ""))
            if environ.get("REQUEST_METHOD") == "GET"
            else None
        )
        digest = _context_digest(environ) if match is not None else None
        if match is None or digest is None:
            return self.app(environ, start_response)
        study, series, sop, frame_list = match.groups()
        answer = _granted_answer(
            digest, study, series, sop, frame_list, environ.get("HTTP_ACCEPT", "")
        )
        if answer is not None:
            headers, chunks = answer
            start_response("200 OK", headers)
            return chunks
        return self.app(environ, _recording(start_response, (digest, study)))


def _recording(start_response: StartResponse, key: tuple[str, str]) -> StartResponse:
    """``start_response`` that records a grant when Django answers the frame request 200."""

    def record(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        seconds = settings.DICOMWEB_ACCESS_CACHE_SECONDS
        if status.startswith("200 ") and exc_info is None and seconds > 0:
            kept = tuple(
                (name, value) for name, value in headers if name.lower() not in _NOT_REPLAYED
            )
            grants.put(key, Grant(time.monotonic() + seconds, kept))
        return (
            start_response(status, headers, exc_info)
            if exc_info
            else start_response(status, headers)
        )

    return record
