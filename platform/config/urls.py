"""Top-level URL configuration."""

from django.contrib import admin
from django.urls import include, path
from django.views.i18n import JavaScriptCatalog
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from accounts import views as account_views
from ops import views as ops_views

urlpatterns = [
    path("", account_views.home, name="home"),
    path("healthz", ops_views.healthz, name="healthz"),
    # The browser code's strings: gettext() in frontend/static, the djangojs catalogues.
    path("jsi18n/", JavaScriptCatalog.as_view(), name="javascript-catalog"),
    path("accounts/", include("accounts.urls")),
    path("api/v1/", include("accounts.api_urls")),
    path("api/v1/", include("cases.api_urls")),
    path("cases/", include("cases.urls")),
    path("dicomweb/", include("cases.dicomweb_urls")),
    path("viewer/", include("viewer.urls")),
    path("api/v1/inference/", include("inference.api_urls")),
    path("inference/", include("inference.urls")),
    path("api/v1/", include("readerstudy.api_urls")),
    path("reading/", include("readerstudy.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="api-schema"), name="api-redoc"),
    path("", include("readerstudy.results.urls")),
    path("admin/", admin.site.urls),
]
