from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from ops.services import health_report


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Reachability of database, broker and workers: 200 when all are up, else 503."""
    healthy, report = health_report()
    return JsonResponse(report, status=200 if healthy else 503)
