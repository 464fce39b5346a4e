"""Message catalogues: compiled from the committed ``.po`` files, in Python.

Django's ``compilemessages`` needs GNU gettext's ``msgfmt``, which a bare machine lacks; the
README's two commands compile with polib instead. A catalogue is compiled again only when its
``.po`` is newer than its ``.mo``, so the step costs nothing on later runs.
"""

from __future__ import annotations

from pathlib import Path

import polib


def catalogues_compile(locale_dir: Path, *, force: bool = False) -> list[Path]:
    """Compile every ``.po`` under ``locale_dir`` whose ``.mo`` is missing or older.

    Returns:
        The ``.mo`` files written.
    """
    written = []
    for po_path in sorted(locale_dir.glob("*/LC_MESSAGES/*.po")):
        mo_path = po_path.with_suffix(".mo")
        if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
            continue
        catalogue = polib.pofile(str(po_path))
        # Fuzzy entries are a translator's guess, not a translation: gettext skips them too.
        catalogue.save_as_mofile(str(mo_path))
        written.append(mo_path)
    return written
