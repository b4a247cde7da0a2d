"""The two kinds of plan stage: approaches (request → answer) and processors (wrappers)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict

from .results import ApproachResult

if TYPE_CHECKING:
    from .context import RequestContext
    from .models import ChatRequest
    from .registry import Registry


class NoConfig(BaseModel):
    """The config model of a stage that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


class Stage(ABC):
    """What approaches and processors share: a slug, documentation and a config model.

    ``Config`` is a pydantic model; its fields become ``--<slug>-<field>`` flags,
    ``OPTILLM_<SLUG>_<FIELD>`` variables, a ``[<slug>]`` TOML section and request-body keys.
    """

    slug: ClassVar[str]
    summary: ClassVar[str] = ""
    paper: ClassVar[str | None] = None
    Config: ClassVar[type[BaseModel]] = NoConfig
    #: Request features passed on to the final upstream call (tools, response_format, stop, …).
    features: ClassVar[frozenset[str]] = frozenset()
    #: Hidden stages work but are not advertised in ``/v1/models``.
    hidden: ClassVar[bool] = False

    def describe(self, registry: Registry | None = None) -> dict[str, Any]:
        """Slug, summary, paper and parameter JSON schema with defaults.

        ``registry`` (what is installed; the approaches endpoint passes it) lets a stage that
        depends on other stages, such as a router, say which of them are there.
        """
        return {
            "slug": self.slug,
            "summary": self.summary,
            "paper": self.paper,
            "kind": "processor" if isinstance(self, Processor) else "approach",
            "parameters": self.Config.model_json_schema(),
        }


class Approach(Stage):
    """Maps a request to an answer, calling the upstream through ``ctx``.

    Set ``handles_n`` when ``run`` honours ``ctx.request.n`` itself; otherwise the executor runs
    the approach ``n`` times concurrently and joins the answers.
    """

    handles_n: ClassVar[bool] = False

    @abstractmethod
    async def run(self, ctx: RequestContext) -> ApproachResult:
        """Answer ``ctx.request``; raise an ``OptillmError`` instead of returning error text."""


CallNext = Callable[["ChatRequest"], Awaitable[ApproachResult]]


class Processor(Stage):
    """Wraps everything to its right in a plan: may change the request and then the result.

    A processor's ``post`` work on a streamed result must wrap ``result.stream`` chunk by chunk.
    """

    @abstractmethod
    async def __call__(
        self, ctx: RequestContext, request: ChatRequest, call_next: CallNext
    ) -> ApproachResult:
        """Transform ``request``, ``await call_next(request)``, transform and return the result."""
