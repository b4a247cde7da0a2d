"""The plugin contract: pluggy hookspecs of the ``optillm`` project.

Hooks are synchronous and run once while the app is built, in register-callback style: each gets
a ``register`` function and calls it for every object it contributes. The request path never calls
hooks; it uses the frozen registry that these calls filled. Every hook has a heading in
``docs/plugin-hooks.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

PROJECT = "optillm"
ENTRY_POINT_GROUP = "optillm.plugins"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def register_approaches(register: Callable[[Any], None]) -> None:
    """Contribute approaches: stages that turn a request into an answer.

    Called once per app build, before any request is served.

    :param register: call ``register(approach)`` with an instance of an
        :class:`optillm_core.Approach` subclass for each approach; its ``slug`` must match
        ``^[a-z][a-z0-9_]*$`` and be unique across all installed plugins.

    The return value is ignored. A slug registered twice is an error naming both distributions.
    """


@hookspec
def register_processors(register: Callable[[Any], None]) -> None:
    """Contribute processors: stages that wrap the rest of a plan (privacy, readurls, memory).

    Called once per app build, before any request is served.

    :param register: call ``register(processor)`` with an instance of an
        :class:`optillm_core.Processor` subclass. Processors share the slug namespace with
        approaches.

    The return value is ignored.
    """


@hookspec
def register_decoders(register: Callable[[Any], None]) -> None:
    """Contribute decoding strategies for local inference engines (``cot_decoding``, …).

    Called once per app build.

    :param register: call ``register(decoder)`` with an object that has a unique ``name``
        attribute; the engine that understands it (``optillm-local``) looks it up by the
        request's ``decoding`` field.

    The return value is ignored.
    """


@hookspec
def register_upstreams(register: Callable[[Any], None]) -> None:
    """Contribute upstream providers (``openai``, ``azure``, ``litellm``, ``local``).

    Called once per app build, before the upstream is chosen.

    :param register: call ``register(spec)`` with an :class:`optillm_core.UpstreamSpec`
        whose ``factory(settings)`` builds the upstream client.

    The return value is ignored. Names must be unique.
    """


@hookspec
def register_middleware(register: Callable[[Any], None]) -> None:
    """Contribute global wrappers around every chat request (audit, metrics, org-wide rules).

    Called once per app build.

    :param register: call ``register(middleware)`` with an async callable
        ``middleware(request, call_next) -> ApproachResult`` where ``request`` is the validated
        :class:`optillm_core.ChatRequest` and ``await call_next(request)`` runs the plan.
        Middleware registered first runs outermost.

    The return value is ignored.
    """


@hookspec
def register_commands(subparsers: Any) -> None:
    """Contribute ``optillm`` CLI subcommands.

    Called once when the CLI starts, after plugins are loaded.

    :param subparsers: the ``argparse`` subparsers action; add a parser with
        ``subparsers.add_parser(name, help=...)`` and ``set_defaults(func=callable)``, where
        ``func(args) -> int`` is the command's exit status.

    The return value is ignored.
    """
