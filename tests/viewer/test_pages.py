"""The case viewer page (permissions, data handed to the bundle) and the bundle's tags."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.template import Context, Template
from django.test import Client, override_settings
from django.urls import reverse

from accounts.models import User
from cases.models import Case
from tests.conftest import PASSWORD
from viewer.templatetags.viewer_assets import ENTRY, load_assets

BUNDLE = Path(settings.BASE_DIR) / "frontend" / "static" / "viewer"


def _page(client: Client, case: Case) -> str:
    response = client.get(reverse("viewer:case", args=[case.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _case_data(html: str) -> dict[str, object]:
    match = re.search(r'<script id="sagittal-case" type="application/json">(.*?)</script>', html)
    assert match, "the page hands the case to the bundle as JSON"
    data: dict[str, object] = json.loads(match.group(1))
    return data


@pytest.mark.django_db
def test_coordinator_sees_the_case_with_its_series_and_the_bundle(
    client: Client, coordinator: User, cervical_case: Case
) -> None:
    client.login(username=coordinator.username, password=PASSWORD)
    html = _page(client, cervical_case)
    data = _case_data(html)
    assert data["id"] == str(cervical_case.pk)
    assert data["dicomweb_root"] == "/dicomweb"
    studies = data["studies"]
    assert isinstance(studies, list) and len(studies) == 1
    series = studies[0]["series"]
    assert sorted(item["role"] for item in series) == ["CT", "MRI-T2"]
    for item in series:
        assert item["number_of_instances"] == 16
        assert item["thumbnail_url"].startswith(
            f"/dicomweb/studies/{studies[0]['study_instance_uid']}/series/"
        )
        assert item["frame_of_reference_uid"]
    assets = load_assets()
    assert f'<script type="module" src="/static/viewer/{assets.script}"></script>' in html
    for style in assets.styles:
        assert f'<link rel="stylesheet" href="/static/viewer/{style}">' in html


@pytest.mark.django_db
def test_admin_sees_the_case_viewer(client: Client, admin_user: User, lumbar_case: Case) -> None:
    client.login(username=admin_user.username, password=PASSWORD)
    data = _case_data(_page(client, lumbar_case))
    roles = {item["role"]: item["modality"] for item in data["studies"][0]["series"]}  # type: ignore[index]
    assert roles == {"DECT-mixed": "CT", "MRM": "MR", "NC-CTM-mask": "SEG"}


@pytest.mark.django_db
@pytest.mark.parametrize("persona", ["reader_a", "outsider"])
def test_everyone_else_gets_404(
    client: Client, persona: str, request: pytest.FixtureRequest, cervical_case: Case
) -> None:
    user: User = request.getfixturevalue(persona)
    client.login(username=user.username, password=PASSWORD)
    response = client.get(reverse("viewer:case", args=[cervical_case.pk]))
    assert response.status_code == 404
    assert cervical_case.label not in response.content.decode()


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client: Client, cervical_case: Case) -> None:
    url = reverse("viewer:case", args=[cervical_case.pk])
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.django_db
def test_unknown_case_is_404(client: Client, coordinator: User) -> None:
    client.login(username=coordinator.username, password=PASSWORD)
    response = client.get(reverse("viewer:case", args=[uuid.uuid4()]))
    assert response.status_code == 404


def test_not_a_uuid_is_not_routed(client: Client) -> None:
    response = client.get("/viewer/cases/not-a-uuid/")
    assert response.status_code == 404


def test_viewer_assets_tag_renders_the_manifest_entry() -> None:
    html = Template("{% load viewer_assets %}{% viewer_assets %}").render(Context())
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    entry = manifest[ENTRY]
    assert f'src="/static/viewer/{entry["file"]}"' in html
    assert html.count('rel="stylesheet"') == len(entry.get("css", []))
    assert 'type="module"' in html


def test_bundle_is_complete_and_self_contained() -> None:
    """Everything the manifest names exists, including the decode worker and codec WASM."""
    manifest = json.loads((BUNDLE / "manifest.json").read_text())
    files = {item["file"] for item in manifest.values()}
    files |= {css for item in manifest.values() for css in item.get("css", [])}
    files |= {asset for item in manifest.values() for asset in item.get("assets", [])}
    for name in files:
        assert (BUNDLE / name).is_file(), name
    built = {path.name for path in (BUNDLE / "assets").iterdir()}
    assert any(name.startswith("decodeImageFrameWorker-") for name in built)
    assert sum(name.endswith(".wasm") for name in built) >= 4
    for path in (BUNDLE / "assets").glob("*.js"):
        text = path.read_text(errors="replace")
        # No CDN or third-party origin is hard-wired into what the browser loads.
        assert "cdn.jsdelivr" not in text and "unpkg.com" not in text, path.name


@override_settings(
    STORAGES={
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
)
def test_the_entry_keeps_the_name_its_chunks_import_under_manifest_storage() -> None:
    """The lazily loaded chunks import the entry by Vite's name; under production's manifest
    storage the page must load it by that same URL, or the browser runs the viewer twice."""
    html = Template("{% load viewer_assets %}{% viewer_assets %}").render(Context())
    entry = load_assets().script
    assert f'src="{settings.STATIC_URL}viewer/{entry}"' in html
    importers = [
        path
        for path in (BUNDLE / "assets").glob("*.js")
        if f'"./{Path(entry).name}"' in path.read_text(errors="replace")
    ]
    assert importers, "no chunk imports the entry (is the tools chunk still split off?)"
