"""``majority_voting`` passes the approach contract."""

from __future__ import annotations

from optillm_core.testing import ApproachContract
from optillm_majority_voting import plugin


class TestMajorityVotingContract(ApproachContract):
    plugin = plugin
    slug = "majority_voting"
