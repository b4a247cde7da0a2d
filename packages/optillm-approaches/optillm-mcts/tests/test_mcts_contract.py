"""``mcts`` passes the approach contract (one simulation without rollout keeps it cheap)."""

from __future__ import annotations

from optillm_core.testing import ApproachContract
from optillm_mcts import plugin


class TestMctsContract(ApproachContract):
    plugin = plugin
    slug = "mcts"
    extra_body = {"mcts_simulations": 1, "mcts_depth": 0}
