"""Pages: the home page after login. Login and logout use Django's views with our templates."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from accounts.permissions import user_roles


@login_required
def home(request: HttpRequest) -> HttpResponse:
    roles = sorted(role.label for role in user_roles(request.user))
    return render(request, "accounts/home.html", {"roles": roles})
