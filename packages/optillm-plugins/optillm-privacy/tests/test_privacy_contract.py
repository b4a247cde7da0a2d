"""``privacy`` through the conformance checks (answered by the implicit final ``none``)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from privacy_testkit import SHARED

from optillm_core.testing import ApproachContract


@pytest.fixture(autouse=True, scope="module")
def _warm_analyzer() -> Iterator[None]:
    SHARED.processor.warm()  # presidio is built once, before the timing-sensitive checks
    yield


class TestPrivacyContract(ApproachContract):
    plugin = SHARED
    slug = "privacy"
