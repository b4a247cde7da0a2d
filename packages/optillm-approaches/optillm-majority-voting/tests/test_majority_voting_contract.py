"""``majority_voting`` passes the approach contract."""

from __future__ import annotations

from optillm_majority_voting import plugin

from optillm_core.testing import ApproachContract


class TestMajorityVotingContract(ApproachContract):
    plugin = plugin
    slug = "majority_voting"
