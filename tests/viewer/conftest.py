from __future__ import annotations

import pytest

from cases.models import Case, Region
from tests.browser.phantoms import PhantomFiles, cervical_files, import_case, lumbar_files


@pytest.fixture(scope="session")
def cervical_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return cervical_files(tmp_path_factory.mktemp("viewer-cervical"))


@pytest.fixture(scope="session")
def lumbar_phantom(tmp_path_factory: pytest.TempPathFactory) -> PhantomFiles:
    return lumbar_files(tmp_path_factory.mktemp("viewer-lumbar"))


@pytest.fixture
def cervical_case(db: None, cervical_phantom: PhantomFiles) -> Case:
    return import_case(cervical_phantom, label="VIEW-C1", region=Region.CERVICAL)


@pytest.fixture
def lumbar_case(db: None, lumbar_phantom: PhantomFiles) -> Case:
    return import_case(lumbar_phantom, label="VIEW-L1", region=Region.LUMBAR)
