"""``self_consistency`` passes the approach contract."""

from __future__ import annotations

from optillm_core.testing import ApproachContract
from optillm_self_consistency import plugin


class TestSelfConsistency(ApproachContract):
    plugin = plugin
    slug = "self_consistency"
    reply = "6 times 7 is 42."
