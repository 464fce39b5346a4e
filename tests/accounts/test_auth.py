from __future__ import annotations

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.permissions import can_manage_studies, has_role, is_admin
from accounts.roles import Role
from tests.conftest import PASSWORD


@pytest.mark.django_db
def test_login_page_logs_in_and_logout_logs_out(client: Client, reader_a: User) -> None:
    assert client.get("/").status_code == 302  # the home page needs a login
    page = client.get("/accounts/login/")
    assert page.status_code == 200
    assert b'name="password"' in page.content

    response = client.post(
        "/accounts/login/", {"username": reader_a.username, "password": PASSWORD}
    )
    assert response.status_code == 302
    home = client.get("/")
    assert home.status_code == 200
    assert reader_a.username.encode() in home.content
    assert b"Reader" in home.content

    client.post("/accounts/logout/")
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_login_with_a_wrong_password_fails_clearly(client: Client, reader_a: User) -> None:
    response = client.post("/accounts/login/", {"username": reader_a.username, "password": "no"})
    assert response.status_code == 200
    assert b"did not match" in response.content
    assert client.get("/").status_code == 302


@pytest.mark.django_db
def test_token_endpoint_returns_a_token_that_authenticates(reader_a: User) -> None:
    api = APIClient()
    assert api.get("/api/schema/").status_code in (401, 403)
    response = api.post(
        "/api/v1/auth/token/", {"username": reader_a.username, "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert len(token) == 40
    # The same credentials give the same token (scripts may call it every run).
    again = api.post(
        "/api/v1/auth/token/", {"username": reader_a.username, "password": PASSWORD}, format="json"
    )
    assert again.json()["token"] == token

    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    schema = api.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert schema.status_code == 200
    assert "/api/v1/auth/token/" in schema.json()["paths"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "payload",
    [
        {"username": "reader-a-persona", "password": "wrong"},
        {"username": "nobody", "password": PASSWORD},
        {"username": "reader-a-persona"},
        {},
    ],
)
def test_token_endpoint_rejects_bad_credentials_with_400(reader_a: User, payload: dict) -> None:
    response = APIClient().post("/api/v1/auth/token/", payload, format="json")
    assert response.status_code == 400
    assert "token" not in response.json()


@pytest.mark.django_db
def test_forged_token_is_rejected(reader_a: User) -> None:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert api.get("/api/schema/").status_code == 401


@pytest.mark.django_db
def test_api_docs_page_is_served_without_a_cdn(client: Client, reader_a: User) -> None:
    client.force_login(reader_a)
    page = client.get("/api/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui" in html
    assert "cdn.jsdelivr.net" not in html and "unpkg.com" not in html


@pytest.mark.django_db
def test_role_helpers(admin_user: User, coordinator: User, reader_a: User, outsider: User) -> None:
    assert is_admin(admin_user) and has_role(admin_user, Role.READER)
    assert can_manage_studies(coordinator) and not is_admin(coordinator)
    assert has_role(reader_a, Role.READER) and not can_manage_studies(reader_a)
    assert not has_role(outsider, Role.READER, Role.COORDINATOR, Role.ADMIN)
    User.objects.filter(pk=reader_a.pk).update(is_active=False)
    assert not has_role(User.objects.get(pk=reader_a.pk), Role.READER)
