"""``cot_reflection`` passes the approach contract."""

from __future__ import annotations

from typing import Any, ClassVar

from optillm_core.testing import ApproachContract
from optillm_cot_reflection import plugin

TAGGED = (
    "<thinking>\n6 times 7 is 42.\n<reflection>\nChecked: 7+7+7+7+7+7 = 42.\n</reflection>\n"
    "</thinking>\n<output>\n42\n</output>"
)


class TestCotReflectionContract(ApproachContract):
    plugin = plugin
    slug = "cot_reflection"
    reply: ClassVar[Any] = TAGGED
