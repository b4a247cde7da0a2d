"""``moa`` passes the approach contract."""

from __future__ import annotations

from optillm_core.testing import ApproachContract
from optillm_moa import plugin


class TestMoa(ApproachContract):
    plugin = plugin
    slug = "moa"
    reply = "The answer is 42."
