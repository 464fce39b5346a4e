"""Pages: the home page, preferences and the language switch. Login and logout use Django's
views with our templates."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.forms import PreferencesForm
from accounts.permissions import user_roles
from accounts.preferences import language_codes
from accounts.services import user_preferences_set


@login_required
def home(request: HttpRequest) -> HttpResponse:
    roles = sorted(str(role.label) for role in user_roles(request.user))
    return render(request, "accounts/home.html", {"roles": roles})


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next") or request.headers.get("referer") or ""
    safe = url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return target if safe else reverse("home")


@require_POST
def language_switch(request: HttpRequest) -> HttpResponse:
    """The header's switcher: the language of every later page, saved for a signed-in user
    (it then follows them to other browsers) and in a cookie for the login page."""
    language = request.POST.get("language", "")
    response = HttpResponseRedirect(_back(request))
    if language not in language_codes():
        return response
    if request.user.is_authenticated:
        user_preferences_set(
            user=request.user,
            language=language,
            time_zone=request.user.time_zone,
        )
    response.set_cookie(
        settings.LANGUAGE_COOKIE_NAME,
        language,
        max_age=settings.LANGUAGE_COOKIE_AGE,
        samesite="Lax",
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
    )
    return response


@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    user = request.user
    initial = {"language": user.language, "time_zone": user.time_zone}  # type: ignore[union-attr]
    form = PreferencesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        user_preferences_set(
            user=user,  # type: ignore[arg-type]
            language=form.cleaned_data["language"],
            time_zone=form.cleaned_data["time_zone"],
        )
        if form.cleaned_data["language"]:
            translation.activate(form.cleaned_data["language"])
        messages.success(request, _("Your preferences are saved."))
        return redirect("accounts:preferences")
    return render(request, "accounts/preferences.html", {"form": form})
