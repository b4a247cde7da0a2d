"""``re2`` passes the approach contract."""

from __future__ import annotations

from optillm_re2 import plugin

from optillm_core.testing import ApproachContract


class TestRe2Contract(ApproachContract):
    plugin = plugin
    slug = "re2"
