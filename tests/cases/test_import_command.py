from __future__ import annotations

import io
import os
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from cases.models import Instance


@pytest.mark.django_db
def test_import_dicom_walks_directories_reports_and_is_idempotent(
    cervical_files: dict[str, list[Path]], tmp_path: Path
) -> None:
    (tmp_path / "broken.dcm").write_bytes(b"garbage")
    directory = Path(os.path.commonpath([paths[0] for paths in cervical_files.values()]))
    out, err = io.StringIO(), io.StringIO()
    call_command("import_dicom", str(directory), str(tmp_path), stdout=out, stderr=err)
    expected = sum(len(paths) for paths in cervical_files.values())
    assert Instance.objects.count() == expected
    assert f"{expected} stored" in out.getvalue()
    assert "1 rejected" in out.getvalue()
    assert "broken.dcm" in err.getvalue()

    again = io.StringIO()
    call_command("import_dicom", str(directory), stdout=again, stderr=io.StringIO())
    assert f"0 stored, {expected} duplicate" in again.getvalue()
    assert Instance.objects.count() == expected


@pytest.mark.django_db
def test_import_dicom_refuses_a_missing_path(tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="does not exist"):
        call_command("import_dicom", str(tmp_path / "nope"))
