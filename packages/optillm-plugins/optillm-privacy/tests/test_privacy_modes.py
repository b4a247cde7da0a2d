"""Fail closed, NER modes, operator-only parameters and offline operation."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
from privacy_testkit import PII, PLACEHOLDER, SHARED

from optillm_core import ChatRequest, build_engine, hookimpl
from optillm_core.testing import FakeUpstream, make_app, make_settings, openai_client, upstream_for
from optillm_privacy import plugin as privacy_plugin
from optillm_privacy.analyzer import Analyzer
from optillm_privacy.plugin import Privacy


@pytest.fixture(autouse=True, scope="module")
def _warm_analyzer() -> None:
    SHARED.processor.warm()


class One:
    """A plugin object registering one given processor."""

    def __init__(self, processor: Privacy) -> None:
        self.processor = processor

    @hookimpl
    def register_processors(self, register: Callable[[Any], None]) -> None:
        register(self.processor)


def _broken(ner_model: str, language: str) -> Analyzer:
    raise RuntimeError("presidio is not importable")


async def _ask(fake: FakeUpstream, plugin: object, text: str, **options: Any) -> Any:
    app = make_app(fake, [plugin], **options.pop("settings", {}))
    async with openai_client(app) as client:
        return await client.chat.completions.create(
            model="privacy-fake-model",
            messages=[{"role": "user", "content": text}],
            **options,
        )


@pytest.mark.anyio
async def test_no_analyzer_means_the_request_is_refused_not_sent() -> None:
    fake = FakeUpstream("never")
    plugin = One(Privacy(analyzer_factory=_broken))
    for _ in range(2):  # the failure is remembered, and refused the same way
        with pytest.raises(openai.InternalServerError) as raised:
            await _ask(fake, plugin, f"mail {PII['email']}")
        assert raised.value.status_code == 503
        assert "not sent upstream" in raised.value.message
    assert fake.call_count == 0


@pytest.mark.anyio
@pytest.mark.parametrize("where", ["operator", "request"])
async def test_require_ner_without_a_model_refuses(where: str) -> None:
    fake = FakeUpstream("never")
    options: dict[str, Any] = {}
    if where == "operator":
        options["settings"] = {"plugin_options": {"privacy": {"require_ner": "true"}}}
    else:
        options["extra_body"] = {"optillm": {"privacy": {"require_ner": True}}}
    with pytest.raises(openai.InternalServerError) as raised:
        await _ask(fake, SHARED, "hello", **options)
    assert raised.value.status_code == 503
    assert "NER is required" in raised.value.message
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_a_request_cannot_turn_required_ner_off() -> None:
    fake = FakeUpstream("never")
    settings = {"plugin_options": {"privacy": {"require_ner": True}}}
    with pytest.raises(openai.InternalServerError):
        await _ask(fake, SHARED, "hi", settings=settings, extra_body={"require_ner": False})
    assert fake.call_count == 0


@pytest.mark.anyio
@pytest.mark.parametrize(
    "body", [{"ner_model": "other_model"}, {"ignore_entities": ["EMAIL_ADDRESS"]}]
)
async def test_operator_only_parameters_are_refused_in_the_body(body: dict[str, Any]) -> None:
    fake = FakeUpstream("never")
    with pytest.raises(openai.BadRequestError) as raised:
        await _ask(fake, SHARED, f"mail {PII['email']}", extra_body=body)
    assert "is set by the server operator only" in raised.value.message
    assert fake.call_count == 0


@pytest.mark.anyio
async def test_a_request_cannot_raise_the_score_threshold() -> None:
    fake = FakeUpstream("ok")
    await _ask(fake, SHARED, f"call {PII['phone']}", extra_body={"score_threshold": 1.0})
    assert PII["phone"] not in str(fake.bodies)


@pytest.mark.anyio
async def test_restore_false_returns_the_placeholders() -> None:
    fake = FakeUpstream(lambda body: body["messages"][-1]["content"])
    response = await _ask(fake, SHARED, f"mail {PII['email']}", extra_body={"restore": False})
    content = response.choices[0].message.content
    assert PLACEHOLDER.fullmatch(content.split()[-1])
    assert PII["email"] not in content


@pytest.mark.anyio
async def test_ignored_entity_types_stay_in_clear() -> None:
    fake = FakeUpstream("ok")
    settings = {"plugin_options": {"privacy": {"ignore_entities": "url, DATE_TIME"}}}
    plugin = One(Privacy())
    await _ask(fake, plugin, f"see {PII['url']} mail {PII['email']}", settings=settings)
    sent = fake.bodies[0]["messages"][0]["content"]
    assert PII["url"] in sent
    assert PII["email"] not in sent


async def _trace_details(
    plugin: object, text: str, **settings: Any
) -> tuple[list[str], str, dict[str, str]]:
    fake = FakeUpstream(lambda body: body["messages"][-1]["content"])
    engine, _ = build_engine(
        make_settings(**settings), [plugin], autoload=False, upstream=upstream_for(fake)
    )
    request = ChatRequest.model_validate(
        {"model": "privacy-fake-model", "messages": [{"role": "user", "content": text}]}
    )
    outcome = await engine.run(request)
    details = [e.detail for e in outcome.state.trace.entries if e.kind == "anonymize"]
    return details, fake.bodies[0]["messages"][0]["content"], outcome.state.response_headers


@pytest.mark.anyio
async def test_default_mode_records_ner_off_in_the_trace() -> None:
    details, sent, headers = await _trace_details(
        SHARED, f"I live in Zanzibar, mail {PII['email']}"
    )
    assert details == ["ner=off texts=1 masked=1"]
    assert headers["x-optillm-privacy-ner"] == "off"
    assert "Zanzibar" in sent  # documented limit: no NER, no locations


@pytest.fixture(scope="module")
def tiny_ner_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spaCy pipeline whose entity ruler knows one person and one place (no download)."""
    import spacy

    nlp = spacy.blank("en")
    ruler = nlp.add_pipe("entity_ruler")
    ruler.add_patterns(  # type: ignore[attr-defined]
        [{"label": "PERSON", "pattern": "Zoe Quill"}, {"label": "GPE", "pattern": "Zanzibar"}]
    )
    path = tmp_path_factory.mktemp("spacy") / "tiny_ner"
    nlp.to_disk(path)
    return path


@pytest.mark.anyio
async def test_installed_ner_model_masks_names_and_places(tiny_ner_model: Path) -> None:
    options = {"privacy": {"ner_model": str(tiny_ner_model), "require_ner": True}}
    details, sent, headers = await _trace_details(
        One(Privacy()), "Zoe Quill moved to Zanzibar last year.", plugin_options=options
    )
    assert details == [f"ner={tiny_ner_model} texts=1 masked=2"]
    assert headers["x-optillm-privacy-ner"] == "on"
    assert "Zoe Quill" not in sent and "Zanzibar" not in sent
    assert "<PERSON_1_" in sent and "<LOCATION_1_" in sent


def test_entry_point_registers_privacy() -> None:
    registered: list[Any] = []
    privacy_plugin.register_processors(registered.append)
    assert [type(p) for p in registered] == [Privacy]


@pytest.mark.anyio
async def test_building_and_analyzing_never_touch_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lookups: list[Any] = []
    real = socket.getaddrinfo

    def recording(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "localhost", "::1"):
            lookups.append(host)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", recording)
    fake = FakeUpstream("ok")
    await _ask(fake, One(Privacy()), f"mail {PII['email']} or {PII['email2']}")
    assert lookups == []
    assert PII["email"] not in str(fake.bodies)


def test_importing_and_registering_the_plugin_does_not_load_presidio() -> None:
    code = (
        "import sys, json\n"
        "from optillm_privacy import plugin\n"
        "plugin.register_processors(lambda p: None)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(out.stdout))
    assert not loaded & {"presidio_analyzer", "presidio_anonymizer", "spacy", "tldextract"}
