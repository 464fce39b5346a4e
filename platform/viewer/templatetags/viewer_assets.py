"""``{% viewer_assets %}``: the script and style tags of the built viewer bundle.

Vite writes content-hashed file names and a manifest (frontend/static/viewer/manifest.json);
this tag reads the manifest so templates never name a hashed file. The URLs are STATIC_URL plus
Vite's own names, deliberately not ``static()``: ManifestStaticFilesStorage (production) would
add a second hash to the entry only, while the chunks import each other by Vite's names, so the
browser would load the entry module twice under two URLs and run the viewer twice. Vite's
names already change with their content; collectstatic copies them unchanged.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django import template
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import ImproperlyConfigured
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

register = template.Library()

MANIFEST = "viewer/manifest.json"
ENTRY = "src/main.ts"


@dataclass(frozen=True)
class _Assets:
    script: str
    styles: tuple[str, ...]
    preloads: tuple[str, ...]


_cache: dict[tuple[str, float], _Assets] = {}


def _manifest_path() -> Path:
    found = finders.find(MANIFEST)
    if not found:
        raise ImproperlyConfigured(
            f"The viewer bundle is missing ({MANIFEST} is not among the static files). "
            "Build it with `make frontend` (needs Node 20) or restore frontend/static/viewer."
        )
    return Path(found if isinstance(found, str) else found[0])


def _collect(manifest: dict[str, Any], key: str, seen: set[str]) -> tuple[list[str], list[str]]:
    """CSS files and statically imported chunks of ``key``, depth first, each once."""
    styles: list[str] = []
    chunks: list[str] = []
    for imported in manifest[key].get("imports", []):
        if imported in seen:
            continue
        seen.add(imported)
        chunks.append(manifest[imported]["file"])
        more_styles, more_chunks = _collect(manifest, imported, seen)
        styles += more_styles
        chunks += more_chunks
    styles += manifest[key].get("css", [])
    return styles, chunks


def load_assets() -> _Assets:
    """The entry's files, read from the manifest (re-read when the file changes)."""
    path = _manifest_path()
    key = (str(path), path.stat().st_mtime)
    if key not in _cache:
        manifest = json.loads(path.read_text())
        if ENTRY not in manifest:
            raise ImproperlyConfigured(f"{path} has no entry for {ENTRY}; rebuild the viewer.")
        styles, chunks = _collect(manifest, ENTRY, {ENTRY})
        _cache.clear()
        _cache[key] = _Assets(
            script=manifest[ENTRY]["file"],
            styles=tuple(dict.fromkeys(styles)),
            preloads=tuple(dict.fromkeys(chunks)),
        )
    return _cache[key]


def _url(file: str) -> str:
    return f"{settings.STATIC_URL}viewer/{file}"


@register.simple_tag
def viewer_assets() -> SafeString:
    assets = load_assets()
    styles = format_html_join(
        "\n", '<link rel="stylesheet" href="{}">', ((_url(f),) for f in assets.styles)
    )
    preloads = format_html_join(
        "\n", '<link rel="modulepreload" href="{}">', ((_url(f),) for f in assets.preloads)
    )
    script = format_html('<script type="module" src="{}"></script>', _url(assets.script))
    return format_html("{}\n{}\n{}", styles, preloads, script)
