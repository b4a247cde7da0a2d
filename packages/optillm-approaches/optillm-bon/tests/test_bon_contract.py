"""``bon`` passes the approach contract (with distinct candidates, so the ratings run)."""

from __future__ import annotations

import itertools
from typing import Any

from optillm_bon import plugin
from optillm_bon.rating import RATING_REQUEST
from optillm_core.testing import ApproachContract

_drafts = itertools.count(1)


def _reply(body: dict[str, Any]) -> str:
    if body["messages"][-1]["content"] == RATING_REQUEST:
        return "Rating: 7/10"
    return f"42 (draft {next(_drafts)})"


class TestBon(ApproachContract):
    plugin = plugin
    slug = "bon"
    reply = staticmethod(_reply)
