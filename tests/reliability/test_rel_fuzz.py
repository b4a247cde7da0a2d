"""Fuzzing the chat endpoint (in-process ASGI) with hypothesis-generated bodies: wrong types,
missing fields, huge strings, deep nesting, invalid UTF-8, bad JSON, odd content-part arrays,
absurd ``n`` / ``max_tokens``, adversarial model strings. Whatever arrives, the answer is a 4xx
OpenAI error or a valid completion: never a 500, never a traceback, never a hang."""

from __future__ import annotations

import json
import os
from typing import Any

import anyio
import httpx2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rel_kit import smart_reply, sse_events

import optillm_bon.plugin as bon
import optillm_moa.plugin as moa
from optillm_core.testing import FakeUpstream, make_app

EXAMPLES = int(os.environ.get("OPTILLM_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
SLUGS = ["moa", "bon", "none", "nope", "", "privacy", "moa&bon", "bon|moa", "mcts"]
model_strings = st.one_of(
    st.text(
        alphabet=st.sampled_from(list("amobnx-&|/ _.:\u00e9\u4e2d\U0001f600\x00")), max_size=30
    ),
    st.text(max_size=30),
    st.builds(
        lambda a, sep, b: f"{a}{sep}{b}",
        st.sampled_from(SLUGS),
        st.sampled_from(["-", "&", "|", "/", "&-", "--", "|&", ""]),
        st.sampled_from(["fake-model", "", "-", "x/y", "\u4e2d", "moa", "&"]),
    ),
)
text_part = st.fixed_dictionaries(
    {"type": st.just("text"), "text": st.text(max_size=30) | json_values}
)
image_part = st.fixed_dictionaries(
    {
        "type": st.just("image_url"),
        "image_url": st.fixed_dictionaries({"url": st.text(max_size=30)}) | json_values,
    }
)
odd_part = st.dictionaries(
    st.sampled_from(["type", "text", "image_url", "input_audio", "x"]), json_values, max_size=3
)
content = st.one_of(
    st.text(max_size=60),
    st.lists(st.one_of(text_part, image_part, odd_part, json_values), max_size=4),
    json_values,
)
ROLES = ["system", "developer", "user", "assistant", "tool", "function", "wizard", ""]
message = st.fixed_dictionaries(
    {"role": st.sampled_from(ROLES) | json_values, "content": content},
    optional={
        "name": st.text(max_size=10) | json_values,
        "tool_calls": json_values,
        "tool_call_id": json_values,
    },
)
numbers = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 1, 2, 3, 16, 17, 10**9, -1]),
    st.floats(),
    st.text(max_size=5),
    st.none(),
    st.booleans(),
)
bodies = st.fixed_dictionaries(
    {},
    optional={
        "model": model_strings | json_values,
        "messages": st.lists(message, min_size=1, max_size=4) | json_values,
        "n": numbers,
        "max_tokens": numbers,
        "max_completion_tokens": numbers,
        "temperature": numbers,
        "stream": st.booleans() | json_values,
        "stream_options": st.fixed_dictionaries({"include_usage": st.booleans() | json_values})
        | json_values,
        "optillm_approach": model_strings | json_values,
        "optillm": st.dictionaries(st.sampled_from(SLUGS), json_values, max_size=2) | json_values,
        "tools": json_values,
        "response_format": json_values,
        "best_of_n": numbers,
    },
)

# Mostly valid bodies, so that the engine, the approaches and streaming get exercised too.
valid_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["system", "developer", "user", "assistant"]),
        "content": st.one_of(
            st.text(max_size=80),
            st.lists(st.one_of(text_part, image_part), min_size=1, max_size=3),
            st.none(),
        ),
    }
)
user_message = st.fixed_dictionaries(
    {"role": st.just("user"), "content": st.text(min_size=1, max_size=80)}
)
near_valid = st.builds(
    lambda model, history, last, extra: {
        "model": model,
        "messages": [*history, last],
        **extra,
    },
    st.one_of(
        st.sampled_from(["fake-model", "moa-fake-model", "bon-fake-model", "none-fake-model"]),
        model_strings,
    ),
    st.lists(valid_message, max_size=3),
    user_message,
    st.fixed_dictionaries(
        {},
        optional={
            "stream": st.booleans(),
            "n": st.integers(min_value=-2, max_value=20) | numbers,
            "max_tokens": st.sampled_from([1, 16, 2**31, 2**63, 0, -5]) | numbers,
            "temperature": st.floats(min_value=-1, max_value=5) | numbers,
            "stream_options": st.fixed_dictionaries({"include_usage": st.booleans()}),
            "optillm_approach": st.sampled_from(SLUGS) | model_strings,
            "best_of_n": st.integers(min_value=-1, max_value=40) | numbers,
            "optillm": st.fixed_dictionaries(
                {},
                optional={
                    "bon": st.dictionaries(st.sampled_from(["count", "x"]), numbers, max_size=2)
                },
            ),
            "stop": st.lists(st.text(max_size=3), max_size=5) | json_values,
            "seed": numbers,
            "user": st.text(max_size=20) | json_values,
        },
    ),
)


def deep(depth: int, kind: str) -> bytes:
    """A body nested ``depth`` levels deep, in the messages or at the top."""
    if kind == "array":
        return b"[" * depth + b"]" * depth
    if kind == "object":
        return b'{"a":' * depth + b"1" + b"}" * depth
    inner = '{"x":' * depth + "1" + "}" * depth
    return f'{{"model":"fake-model","messages":[{{"role":"user","content":"hi","extra":{inner}}}]}}'.encode()


raw_bodies = st.one_of(
    near_valid.map(lambda b: json.dumps(b, allow_nan=True).encode()),
    bodies.map(lambda b: json.dumps(b, allow_nan=True).encode()),
    st.binary(max_size=200),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(
        deep,
        st.sampled_from([10, 100, 300, 500, 700, 900, 1000, 10_000, 100_000]),
        st.sampled_from(["array", "object", "messages"]),
    ),
    st.builds(
        lambda size, at: json.dumps(
            {
                "model": "fake-model",
                "messages": [{"role": "user", "content": "x" * size}],
                at: "y" * size,
            }
        ).encode(),
        st.sampled_from([1 << 10, 1 << 16, 1 << 20, 3 << 20]),
        st.sampled_from(["user", "stop", "model_extra"]),
    ),
    bodies.map(lambda b: json.dumps(b).encode()[:-1]),  # truncated JSON
    bodies.map(lambda b: b"\xff\xfe" + json.dumps(b).encode()),  # invalid UTF-8 prefix
    bodies.map(lambda b: json.dumps(b, ensure_ascii=False).encode("utf-8", "surrogatepass")),
)

APP = make_app(
    FakeUpstream(smart_reply()), [bon, moa], max_body_bytes=4 << 20, keepalive_interval=0
)


def check(status: int, headers: httpx2.Headers, text: str) -> None:
    assert status < 500, (status, text[:500])
    assert "Traceback" not in text
    if status >= 400:
        error = json.loads(text)["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert isinstance(error["message"], str) and error["message"]
        return
    assert status == 200
    if headers.get("content-type", "").startswith("text/event-stream"):
        events = sse_events(text)
        assert events
        last = events[-1]
        if last != "[DONE]":
            assert "error" in json.loads(last), last  # a terminal error event
            assert json.loads(last)["error"]["message"]
        for event in events[:-1]:
            chunk = json.loads(event)
            assert chunk["object"] == "chat.completion.chunk"
        return
    completion = json.loads(text)
    assert completion["object"] == "chat.completion"
    assert isinstance(completion["choices"], list) and completion["choices"]
    for choice in completion["choices"]:
        assert choice["message"]["role"] == "assistant"


async def post(raw: bytes) -> tuple[int, httpx2.Headers, str]:
    transport = httpx2.ASGITransport(app=APP)
    async with httpx2.AsyncClient(transport=transport, base_url="http://fuzz") as client:
        with anyio.fail_after(20):  # never a hang
            response = await client.post(
                "/v1/chat/completions", content=raw, headers={"content-type": "application/json"}
            )
    return response.status_code, response.headers, response.text


@FUZZ
@given(raw_bodies)
def test_any_body_gets_a_4xx_json_error_or_a_valid_completion(raw: bytes) -> None:
    check(*anyio.run(post, raw))


@FUZZ
@given(st.one_of(near_valid, bodies))
def test_any_json_object_gets_a_4xx_json_error_or_a_valid_completion(body: dict[str, Any]) -> None:
    check(*anyio.run(post, json.dumps(body, allow_nan=True).encode()))
