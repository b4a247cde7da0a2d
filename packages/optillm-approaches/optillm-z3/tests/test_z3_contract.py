"""z3 passes the approach contract (each answer solves one SMT-LIB problem in the sandbox)."""

from __future__ import annotations

from typing import Any

from z3_helpers import SMT_OK, analysis

from optillm_core.testing import ApproachContract
from optillm_z3 import plugin


def _reply(body: dict[str, Any]) -> str:
    if "SOLVER_CAN_BE_APPLIED" in str(body["messages"][0]["content"]):
        return analysis(SMT_OK)
    return "42"


class TestZ3Contract(ApproachContract):
    plugin = plugin
    slug = "z3"
    reply = staticmethod(_reply)
