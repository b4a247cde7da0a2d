"""The plan grammar: which approaches run, in what shape, on which upstream model.

Pure functions, no I/O. A plan comes from exactly one source, first match wins:

1. ``optillm_approach`` in the request body;
2. an ``<optillm_approach>…</optillm_approach>`` tag in a system message, else in a user message
   (every tag is stripped from every message before anything is forwarded);
3. a slug prefix on ``model`` (``moa-gpt-4o-mini``, ``readurls&memory-gpt-4o-mini``);
4. the server's ``--approach`` (``auto`` means: none of the above chose, so ``none``).

A slug prefix on ``model`` is always parsed and stripped from the upstream model name, even when a
higher source chose the plan. Grammar: ``a&b`` is a pipeline run left to right, ``x|y`` runs
branches concurrently; ``|`` binds looser than ``&``. Two plain slugs in a row
(``moa-bon-gpt-4o``) are rejected as ambiguous, except after ``none-``, which passes the rest of
the string through verbatim as the model name (``none-re2-model`` sends model ``re2-model``).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Literal

from .errors import InvalidRequestError, UnknownApproachError
from .models import Message

SLUG_PATTERN = re.compile(r"^[a-z][a-z0-9_]*$")
TAG_PATTERN = re.compile(r"<optillm_approach>(.*?)</optillm_approach>", re.DOTALL)
AUTO = "auto"
PASSTHROUGH = "none"

Source = Literal["body", "tag", "model", "server", "default"]


@dataclass(frozen=True)
class Plan:
    """Branches run concurrently; each branch is a pipeline of stage slugs run left to right."""

    branches: tuple[tuple[str, ...], ...]
    source: Source = "default"

    def __str__(self) -> str:
        return "|".join("&".join(branch) for branch in self.branches)

    @property
    def slugs(self) -> frozenset[str]:
        """Every slug the plan names."""
        return frozenset(slug for branch in self.branches for slug in branch)

    @property
    def is_passthrough(self) -> bool:
        """True for the plain ``none`` plan."""
        return self.branches == ((PASSTHROUGH,),)


@dataclass(frozen=True)
class Resolution:
    """A resolved request: the plan, the upstream model name and the tag-free messages."""

    plan: Plan
    model: str
    messages: list[Message]


def _unknown(slug: str, known: Collection[str]) -> UnknownApproachError:
    installed = ", ".join(sorted(known))
    return UnknownApproachError(
        f"Unknown approach {slug!r}. Installed approaches: {installed}.", param="optillm_approach"
    )


def parse_expression(
    expr: str, known: Collection[str], *, max_stages: int = 16
) -> tuple[tuple[str, ...], ...]:
    """Parse ``a&b|c`` into branches of slugs, every slug checked against ``known``."""
    if not isinstance(expr, str) or not expr.strip():
        raise InvalidRequestError("The approach expression is empty.", param="optillm_approach")
    branches: list[tuple[str, ...]] = []
    for branch_text in expr.split("|"):
        stages = tuple(part.strip() for part in branch_text.split("&"))
        for slug in stages:
            if not slug:
                raise InvalidRequestError(
                    f"Empty stage in approach expression {expr!r}.", param="optillm_approach"
                )
            if not SLUG_PATTERN.match(slug) or slug not in known:
                raise _unknown(slug, known)
        branches.append(stages)
    total = sum(len(b) for b in branches)
    if total > max_stages:
        raise InvalidRequestError(
            f"The plan has {total} stages; this server allows at most {max_stages}.",
            param="optillm_approach",
            code="too_many_stages",
        )
    return tuple(branches)


def _is_expression(head: str) -> bool:
    return "&" in head or "|" in head


def split_model_prefix(model: str, known: Collection[str]) -> tuple[str | None, str]:
    """Split ``moa-gpt-4o-mini`` into ``("moa", "gpt-4o-mini")``; no prefix gives ``(None, model)``."""
    head, _, rest = model.partition("-")
    if _is_expression(head):
        return head, rest
    if head not in known:
        return None, model
    if head != PASSTHROUGH and rest:
        following = rest.partition("-")[0]
        if following in known or _is_expression(following):
            raise InvalidRequestError(
                f"Ambiguous model {model!r}: it starts with two approach slugs. Write "
                f"'{head}&{rest}' to chain them, or 'none-{rest}' for a model named {rest!r}.",
                param="model",
                code="ambiguous_model",
            )
    return head, rest


def _strip_tags(message: Message) -> tuple[str | None, Message]:
    content = message.get("content")
    if isinstance(content, str):
        found = TAG_PATTERN.search(content)
        if not found:
            return None, message
        return found.group(1), {**message, "content": TAG_PATTERN.sub("", content).strip()}
    if isinstance(content, list):
        first: str | None = None
        parts = []
        for part in content:
            text = part.get("text") if isinstance(part, dict) else None
            if part.get("type") == "text" and isinstance(text, str) and TAG_PATTERN.search(text):
                found = TAG_PATTERN.search(text)
                if first is None and found:
                    first = found.group(1)
                part = {**part, "text": TAG_PATTERN.sub("", text).strip()}
            parts.append(part)
        if first is None:
            return None, message
        return first, {**message, "content": parts}
    return None, message


def extract_tag(messages: list[Message]) -> tuple[str | None, list[Message]]:
    """The first approach tag of the system messages, else of the user messages; all stripped."""
    from_system: str | None = None
    from_user: str | None = None
    cleaned: list[Message] = []
    for message in messages:
        role = message.get("role")
        if role not in ("system", "developer", "user"):
            cleaned.append(message)
            continue
        found, message = _strip_tags(message)
        if found is not None:
            if role == "user":
                from_user = from_user if from_user is not None else found.strip()
            else:
                from_system = from_system if from_system is not None else found.strip()
        cleaned.append(message)
    return (from_system if from_system is not None else from_user), cleaned


def resolve(
    *,
    model: str,
    messages: list[Message],
    known: Collection[str],
    body_approach: object = None,
    server_approach: str = AUTO,
    default_model: str = "",
    allowed: Collection[str] | None = None,
    max_stages: int = 16,
) -> Resolution:
    """Choose the plan for a request and the model name to send upstream."""
    if body_approach is not None and not isinstance(body_approach, str):
        raise InvalidRequestError("optillm_approach must be a string.", param="optillm_approach")
    prefix, upstream_model = split_model_prefix(model, known) if model else (None, "")
    tag, messages = extract_tag(messages)
    candidates: list[tuple[Source, str | None]] = [
        ("body", body_approach if isinstance(body_approach, str) else None),
        ("tag", tag),
        ("model", prefix),
        ("server", server_approach),
    ]
    source: Source = "default"
    expr = PASSTHROUGH
    for candidate_source, candidate in candidates:
        if candidate and candidate.strip() and candidate.strip() != AUTO:
            source, expr = candidate_source, candidate
            break
    branches = parse_expression(expr, known, max_stages=max_stages)
    plan = Plan(branches, source)
    if allowed is not None and source in ("body", "tag", "model"):
        refused = sorted(plan.slugs - set(allowed) - {PASSTHROUGH})
        if refused:
            raise InvalidRequestError(
                f"Approach {refused[0]!r} is not allowed on this server. "
                f"Allowed: {', '.join(sorted(allowed))}.",
                param="optillm_approach",
                code="approach_not_allowed",
            )
    return Resolution(plan, upstream_model or default_model, messages)
