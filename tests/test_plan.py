"""The plan grammar: sources, precedence, prefixes, tags, pipelines and branches."""

from __future__ import annotations

import pytest

from optillm_core.errors import InvalidRequestError, UnknownApproachError
from optillm_core.plan import extract_tag, parse_expression, resolve, split_model_prefix

KNOWN = {"none", "moa", "bon", "readurls", "memory", "mcts", "re2", "self_consistency", "privacy"}


def user(text: str) -> dict[str, str]:
    return {"role": "user", "content": text}


def system(text: str) -> dict[str, str]:
    return {"role": "system", "content": text}


@pytest.mark.parametrize(
    ("model", "prefix", "rest"),
    [
        ("moa-gpt-4o-mini", "moa", "gpt-4o-mini"),
        ("bon-meta-llama/Llama-3.2-1B-Instruct", "bon", "meta-llama/Llama-3.2-1B-Instruct"),
        ("readurls&memory-gpt-4o-mini", "readurls&memory", "gpt-4o-mini"),
        ("moa-gemini/gemini-1.5-flash-002", "moa", "gemini/gemini-1.5-flash-002"),
        ("bon|moa|mcts-gpt-4", "bon|moa|mcts", "gpt-4"),
        ("gpt-4o-mini", None, "gpt-4o-mini"),
        ("meta-llama/Llama-3.2-1B", None, "meta-llama/Llama-3.2-1B"),
        ("self_consistency-gpt-4o", "self_consistency", "gpt-4o"),
        ("none-re2-model", "none", "re2-model"),
        ("moa", "moa", ""),
        ("auto", None, "auto"),
        ("unknown-gpt-4", None, "unknown-gpt-4"),
    ],
)
def test_model_prefixes(model: str, prefix: str | None, rest: str) -> None:
    assert split_model_prefix(model, KNOWN) == (prefix, rest)


def test_consecutive_plain_slugs_are_rejected_with_advice() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        split_model_prefix("moa-bon-gpt-4o", KNOWN)
    assert "moa&bon-gpt-4o" in raised.value.message
    assert raised.value.code == "ambiguous_model"


@pytest.mark.parametrize(
    ("expr", "branches"),
    [
        ("moa", (("moa",),)),
        ("readurls&memory", (("readurls", "memory"),)),
        ("bon|moa", (("bon",), ("moa",))),
        ("readurls&bon|moa", (("readurls", "bon"), ("moa",))),
        ("privacy&moa|bon&re2", (("privacy", "moa"), ("bon", "re2"))),
        (" moa & bon ", (("moa", "bon"),)),
    ],
)
def test_pipe_binds_looser_than_and(expr: str, branches: tuple[tuple[str, ...], ...]) -> None:
    assert parse_expression(expr, KNOWN) == branches


@pytest.mark.parametrize("expr", ["moa&nope", "nope|bon", "Moa", "moa&bon|x-y", "cepo"])
def test_unknown_slugs_anywhere_list_the_installed_ones(expr: str) -> None:
    with pytest.raises(UnknownApproachError) as raised:
        parse_expression(expr, KNOWN)
    assert raised.value.status == 400
    assert "Installed approaches: bon, mcts, memory, moa, none" in raised.value.message


@pytest.mark.parametrize("expr", ["", "moa&", "|bon", "moa&&bon"])
def test_empty_stages_are_rejected(expr: str) -> None:
    with pytest.raises(InvalidRequestError):
        parse_expression(expr, KNOWN)


def test_stage_limit() -> None:
    with pytest.raises(InvalidRequestError) as raised:
        parse_expression("&".join(["moa"] * 5), KNOWN, max_stages=4)
    assert raised.value.code == "too_many_stages"


def test_tag_in_system_wins_over_user_and_every_tag_is_stripped() -> None:
    messages = [
        system("Be nice. <optillm_approach>moa</optillm_approach>"),
        user("<optillm_approach>bon</optillm_approach> Hello"),
        {"role": "assistant", "content": "<optillm_approach>x</optillm_approach>kept"},
    ]
    tag, cleaned = extract_tag(messages)
    assert tag == "moa"
    assert cleaned[0]["content"] == "Be nice."
    assert cleaned[1]["content"] == "Hello"
    assert cleaned[2] == messages[2]  # assistant turns are not scanned
    assert messages[0]["content"].endswith("</optillm_approach>")  # input not mutated


def test_tag_in_content_parts() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "<optillm_approach>re2</optillm_approach>Q?"},
                {"type": "image_url", "image_url": {"url": "data:x"}},
            ],
        }
    ]
    tag, cleaned = extract_tag(messages)
    assert tag == "re2"
    assert cleaned[0]["content"][0]["text"] == "Q?"
    assert cleaned[0]["content"][1] == messages[0]["content"][1]


def test_first_user_tag_when_no_system_tag() -> None:
    tag, _ = extract_tag(
        [
            user("a <optillm_approach>bon</optillm_approach>"),
            user("<optillm_approach>moa</optillm_approach>"),
        ]
    )
    assert tag == "bon"


class TestPrecedence:
    def run(self, **kw: object):
        defaults: dict[str, object] = {
            "model": "moa-gpt-4o",
            "messages": [user("hi")],
            "known": KNOWN,
        }
        defaults.update(kw)
        return resolve(**defaults)  # type: ignore[arg-type]

    def test_body_beats_tag_and_prefix_and_the_prefix_is_still_stripped(self) -> None:
        r = self.run(
            body_approach="bon", messages=[user("<optillm_approach>re2</optillm_approach>hi")]
        )
        assert str(r.plan) == "bon"
        assert r.plan.source == "body"
        assert r.model == "gpt-4o"
        assert r.messages[0]["content"] == "hi"

    def test_tag_beats_prefix(self) -> None:
        r = self.run(messages=[system("<optillm_approach>re2</optillm_approach>")])
        assert (str(r.plan), r.plan.source, r.model) == ("re2", "tag", "gpt-4o")

    def test_prefix_beats_server_approach(self) -> None:
        r = self.run(server_approach="mcts")
        assert (str(r.plan), r.plan.source) == ("moa", "model")

    def test_server_approach_when_client_selects_nothing(self) -> None:
        r = self.run(model="gpt-4o", server_approach="mcts")
        assert (str(r.plan), r.plan.source, r.model) == ("mcts", "server", "gpt-4o")

    def test_auto_means_passthrough(self) -> None:
        r = self.run(model="gpt-4o", server_approach="auto", body_approach="auto")
        assert r.plan.is_passthrough
        assert r.plan.source == "default"

    def test_default_model_when_none_given(self) -> None:
        r = self.run(model="", default_model="gpt-4o-mini")
        assert r.model == "gpt-4o-mini"
        r = self.run(model="moa", default_model="gpt-4o-mini")
        assert (str(r.plan), r.model) == ("moa", "gpt-4o-mini")

    def test_allowed_approaches_restrict_clients_not_the_server(self) -> None:
        with pytest.raises(InvalidRequestError) as raised:
            self.run(allowed={"bon"})
        assert raised.value.code == "approach_not_allowed"
        r = self.run(model="gpt-4o", server_approach="mcts", allowed={"bon"})
        assert str(r.plan) == "mcts"
        assert self.run(model="none-gpt-4o", allowed={"bon"}).plan.is_passthrough

    def test_body_approach_must_be_a_string(self) -> None:
        with pytest.raises(InvalidRequestError):
            self.run(body_approach=["moa"])

    def test_unknown_body_approach(self) -> None:
        with pytest.raises(UnknownApproachError):
            self.run(body_approach="cepo")
