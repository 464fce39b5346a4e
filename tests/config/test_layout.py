"""platform/ is a source root: the stdlib `platform` module must stay reachable everywhere."""

from __future__ import annotations

import platform
import subprocess
import sys
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_platform_is_the_standard_library_inside_django() -> None:
    import django.conf

    assert django.conf.settings.configured
    assert Path(platform.__file__).parent == Path(sysconfig.get_paths()["stdlib"])
    assert platform.system() in {"Linux", "Darwin", "Windows"}


def test_platform_directory_is_not_a_package() -> None:
    assert not (REPO_ROOT / "platform" / "__init__.py").exists()


def test_manage_py_keeps_the_stdlib_platform_module() -> None:
    code = (
        "import platform, uuid, config.settings;"
        "print(platform.system(), platform.__file__, uuid.uuid4().version)"
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "--no-imports", "-c", code],
        cwd=REPO_ROOT, capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    system, module_file, uuid_version = result.stdout.split()
    assert system == platform.system()
    assert "site-packages" not in module_file
    assert Path(module_file).parent == Path(sysconfig.get_paths()["stdlib"])
    assert uuid_version == "4"


def test_wsgi_and_asgi_entry_points_load_the_platform() -> None:
    from django.core.handlers.asgi import ASGIHandler
    from django.core.handlers.wsgi import WSGIHandler

    from cases.dicomweb_fast import FramesFastPath
    from config.asgi import application as asgi_application
    from config.wsgi import application as wsgi_application
    from config.wsgi import fast_application

    assert isinstance(wsgi_application, WSGIHandler)
    assert isinstance(asgi_application, ASGIHandler)
    # What scripts/serve-prod.sh serves: Django behind the frames fast path.
    assert isinstance(fast_application, FramesFastPath)
    assert fast_application.app is wsgi_application
    assert "config.wsgi:fast_application" in (REPO_ROOT / "scripts/serve-prod.sh").read_text()
