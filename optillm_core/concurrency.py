"""Structured concurrency helpers: task groups that raise plain errors, and ``gather``.

anyio task groups raise ``ExceptionGroup``; the proxy wants the one error that explains the
failure (an ``OptillmError`` when there is one) so it can render it as OpenAI JSON.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup

from .errors import OptillmError

T = TypeVar("T")


def _leaves(error: BaseException) -> Iterable[BaseException]:
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            yield from _leaves(inner)
    else:
        yield error


def primary_error(group: BaseExceptionGroup[Any]) -> BaseException:
    """The error that best explains a failed group: an ``OptillmError`` first, then any other
    non-cancellation error, else the first leaf."""
    leaves = list(_leaves(group))
    cancelled = anyio.get_cancelled_exc_class()
    for wanted in (OptillmError, Exception):
        for leaf in leaves:
            if isinstance(leaf, wanted) and not isinstance(leaf, cancelled):
                return leaf
    return leaves[0]


@contextlib.asynccontextmanager
async def task_group() -> AsyncIterator[TaskGroup]:
    """``anyio.create_task_group()`` that re-raises the primary error instead of a group."""
    try:
        async with anyio.create_task_group() as tg:
            yield tg
    except BaseExceptionGroup as group:
        error = primary_error(group)
        if isinstance(error, anyio.get_cancelled_exc_class()):
            raise
        raise error from None


async def gather(*calls: Callable[[], Awaitable[T]]) -> list[T]:
    """Run the calls concurrently; return their results in order. The first failure cancels
    the rest and is raised as itself."""
    results: list[Any] = [None] * len(calls)

    async def one(i: int, call: Callable[[], Awaitable[T]]) -> None:
        results[i] = await call()

    async with task_group() as tg:
        for i, call in enumerate(calls):
            tg.start_soon(one, i, call)
    return results
