"""``re2`` passes the approach contract."""

from __future__ import annotations

from optillm_core.testing import ApproachContract
from optillm_re2 import plugin


class TestRe2Contract(ApproachContract):
    plugin = plugin
    slug = "re2"
