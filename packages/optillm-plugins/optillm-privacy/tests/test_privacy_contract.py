"""``privacy`` through the conformance checks (answered by the implicit final ``none``)."""

from __future__ import annotations

import pytest
from privacy_testkit import SHARED

from optillm_core.testing import ApproachContract


@pytest.fixture(autouse=True, scope="module")
def _warm_analyzer() -> None:
    SHARED.processor.warm()  # presidio is built once, before the timing-sensitive checks


class TestPrivacyContract(ApproachContract):
    plugin = SHARED
    slug = "privacy"
