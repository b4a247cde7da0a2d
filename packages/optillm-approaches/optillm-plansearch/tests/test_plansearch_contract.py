"""``plansearch`` passes the approach contract."""

from __future__ import annotations

from typing import Any, ClassVar

from optillm_core.testing import ApproachContract
from optillm_plansearch import plugin


class TestPlanSearchContract(ApproachContract):
    plugin = plugin
    slug = "plansearch"
    reply: ClassVar[Any] = "1. Multiplication is repeated addition.\n2. 6 * 7 = 42."
