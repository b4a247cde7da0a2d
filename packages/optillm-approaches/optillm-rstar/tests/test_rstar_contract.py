"""``rstar`` passes the approach contract (two shallow rollouts keep it cheap)."""

from __future__ import annotations

from optillm_core.testing import ApproachContract
from optillm_rstar import plugin


class TestRstarContract(ApproachContract):
    plugin = plugin
    slug = "rstar"
    extra_body = {"rstar_num_rollouts": 2, "rstar_max_depth": 1}
