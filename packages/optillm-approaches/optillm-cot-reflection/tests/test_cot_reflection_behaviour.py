"""What a client of ``cot_reflection`` sees: the answer part only, or everything when asked."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from optillm_core import create_app, make_plugin_manager
from optillm_core.cli import build_parser
from optillm_core.registry import build_registry
from optillm_core.settings import build_settings
from optillm_core.settings_plugins import plugin_env_names
from optillm_core.testing import FakeUpstream, Reply, make_app, openai_client, upstream_for
from optillm_cot_reflection import plugin

THINKING = "<thinking>\nStep one.\n<reflection>\nLooks right.\n</reflection>\n</thinking>\n"
TAGGED = THINKING + "<output>\nParis\n</output>"
MESSAGES = [
    {"role": "system", "content": "Answer in one word."},
    {"role": "user", "content": "What is the capital of France?"},
]


async def ask(fake: FakeUpstream, app: Any = None, **options: Any) -> Any:
    app = app or make_app(fake, [plugin])
    async with openai_client(app) as client:
        return await client.chat.completions.create(
            model="cot_reflection-fake-model", messages=MESSAGES, **options
        )


@pytest.mark.anyio
async def test_returns_only_the_output_section_from_one_call() -> None:
    fake = FakeUpstream(TAGGED)
    response = await ask(fake)
    assert response.choices[0].message.content == "Paris"
    assert response.choices[0].finish_reason == "stop"
    assert fake.call_count == 1
    system = fake.bodies[0]["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("Answer in one word.")
    for tag in ("<thinking>", "<reflection>", "<output>"):
        assert tag in system["content"]
    assert fake.bodies[0]["messages"][1:] == MESSAGES[1:]


@pytest.mark.anyio
async def test_output_without_closing_tag_runs_to_the_end() -> None:
    fake = FakeUpstream(THINKING + "<output>\nParis, of course\n")
    response = await ask(fake)
    assert response.choices[0].message.content == "Paris, of course"


@pytest.mark.anyio
async def test_reply_without_output_tag_is_returned_whole() -> None:
    fake = FakeUpstream("Paris is the capital.")
    response = await ask(fake)
    assert response.choices[0].message.content == "Paris is the capital."


@pytest.mark.anyio
async def test_reference_defaults_and_client_values_for_temperature_and_max_tokens() -> None:
    fake = FakeUpstream(TAGGED)
    await ask(fake)
    await ask(fake, temperature=0.2, max_tokens=300, seed=7)
    assert fake.bodies[0]["temperature"] == 0.6
    assert fake.bodies[0]["max_tokens"] == 4096
    assert (fake.bodies[1]["temperature"], fake.bodies[1]["max_tokens"]) == (0.2, 300)
    assert fake.bodies[1]["seed"] == 7


@pytest.mark.anyio
@pytest.mark.parametrize(
    "extra_body",
    [
        {"return_full_response": True},
        {"optillm": {"cot_reflection": {"return_full_response": True}}},
    ],
)
async def test_full_response_per_request(extra_body: dict[str, Any]) -> None:
    fake = FakeUpstream(TAGGED)
    response = await ask(fake, extra_body=extra_body)
    assert response.choices[0].message.content == TAGGED.strip()
    assert "return_full_response" not in fake.bodies[0]


@pytest.mark.anyio
async def test_server_wide_flag_is_the_default_and_a_request_can_override_it() -> None:
    fake = FakeUpstream(TAGGED)
    app = make_app(fake, [plugin], return_full_response=True)
    full = await ask(fake, app)
    part = await ask(fake, app, extra_body={"return_full_response": False})
    assert full.choices[0].message.content == TAGGED.strip()
    assert part.choices[0].message.content == "Paris"


@pytest.mark.anyio
async def test_approach_server_option_wins_over_the_global_flag() -> None:
    fake = FakeUpstream(TAGGED)
    app = make_app(
        fake,
        [plugin],
        return_full_response=True,
        plugin_options={"cot_reflection": {"return_full_response": "false"}},
    )
    response = await ask(fake, app)
    assert response.choices[0].message.content == "Paris"


def _registry() -> Any:
    return build_registry(make_plugin_manager(autoload=False, plugins=[plugin]))


def test_command_line_flags_reach_the_settings() -> None:
    registry = _registry()
    parser = build_parser(registry, make_plugin_manager(autoload=False, plugins=[plugin]))
    args = vars(parser.parse_args(["serve", "--return-full-response"]))
    assert args["return_full_response"] is True
    args = vars(parser.parse_args(["serve", "--cot-reflection-return-full-response"]))
    assert args["plugin:cot_reflection.return_full_response"] == "true"


@pytest.mark.anyio
@pytest.mark.parametrize(
    "env",
    [
        {"OPTILLM_RETURN_FULL_RESPONSE": "true"},
        {"OPTILLM_COT_REFLECTION_RETURN_FULL_RESPONSE": "1"},
    ],
)
async def test_environment_variables_switch_full_responses_on(env: dict[str, str]) -> None:
    settings = build_settings(
        {"model": "fake-model"}, env=env, plugin_env=plugin_env_names(_registry())
    )
    fake = FakeUpstream(TAGGED)
    app = create_app(settings, [plugin], upstream=upstream_for(fake))
    response = await ask(fake, app)
    assert response.choices[0].message.content == TAGGED.strip()


@pytest.mark.anyio
async def test_cut_off_before_output_is_an_error_not_an_answer() -> None:
    fake = FakeUpstream(Reply("<thinking>\nStep one, step two, st", finish_reason="length"))
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(fake)
    assert raised.value.status_code == 502
    assert "max_tokens" in raised.value.message


@pytest.mark.anyio
async def test_cut_off_inside_output_returns_the_partial_answer_marked_length() -> None:
    fake = FakeUpstream(Reply(THINKING + "<output>\nParis is the cap", finish_reason="length"))
    response = await ask(fake)
    assert response.choices[0].message.content == "Paris is the cap"
    assert response.choices[0].finish_reason == "length"


@pytest.mark.anyio
@pytest.mark.parametrize("content", ["", "   ", THINKING + "<output>  </output>"])
async def test_empty_answers_are_errors(content: str) -> None:
    with pytest.raises(openai.APIStatusError) as raised:
        await ask(FakeUpstream(content))
    assert raised.value.status_code == 502


async def _stream_text(fake: FakeUpstream, **options: Any) -> tuple[list[str], list[str]]:
    stream = await ask(fake, stream=True, **options)
    pieces: list[str] = []
    finishes: list[str] = []
    async for chunk in stream:
        for choice in chunk.choices:
            if choice.delta.content:
                pieces.append(choice.delta.content)
            if choice.finish_reason:
                finishes.append(choice.finish_reason)
    return pieces, finishes


@pytest.mark.anyio
async def test_streaming_sends_only_the_output_text_incrementally() -> None:
    fake = FakeUpstream(THINKING + "<output>\nThe capital of France is Paris.\n</output>")
    pieces, finishes = await _stream_text(fake)
    assert "".join(pieces) == "The capital of France is Paris."
    assert len(pieces) > 1  # sent as it arrived, not collected into one chunk
    assert finishes == ["stop"]
    assert fake.bodies[0]["stream"] is True


@pytest.mark.anyio
async def test_streaming_full_response_passes_everything() -> None:
    fake = FakeUpstream(TAGGED)
    pieces, _ = await _stream_text(fake, extra_body={"return_full_response": True})
    assert "".join(pieces) == TAGGED


@pytest.mark.anyio
async def test_streaming_cut_off_before_output_is_an_error_response() -> None:
    """The error comes before any chunk, so the client gets an ordinary 502 response."""
    fake = FakeUpstream(Reply("<thinking>\nStep one, st", finish_reason="length"))
    with pytest.raises(openai.APIStatusError, match="cut off") as raised:
        await _stream_text(fake)
    assert raised.value.status_code == 502


@pytest.mark.anyio
async def test_usage_counts_the_streamed_call() -> None:
    fake = FakeUpstream(TAGGED)
    _, _ = await _stream_text(fake, stream_options={"include_usage": True})
    assert fake.completion_tokens_served > 0
