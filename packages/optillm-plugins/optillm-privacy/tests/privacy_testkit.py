"""Helpers shared by the privacy tests: one processor for the whole session (presidio is built
once), a PII corpus of every supported kind, and an upstream reply that echoes placeholders."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from optillm_core import hookimpl
from optillm_privacy.plugin import Privacy

PLACEHOLDER = re.compile(r"<[A-Z][A-Z0-9_]*_\d+_[0-9a-f]{6}>")


class SharedPrivacy:
    """A plugin object registering one shared ``Privacy`` instance."""

    def __init__(self) -> None:
        self.processor = Privacy()

    @hookimpl
    def register_processors(self, register: Callable[[Any], None]) -> None:
        """Register the shared instance."""
        register(self.processor)


SHARED = SharedPrivacy()

#: One value of every kind the offline analyzer finds, by kind.
PII = {
    "email": "alice.walker@example.com",
    "email2": "bob.stone@corp-mail.org",
    "phone": "(415) 555-0134",
    "phone_uk": "+44 20 7946 0958",
    "card": "4111 1111 1111 1111",
    "iban": "DE89370400440532013000",
    "ip": "192.168.10.42",
    "ipv6": "2001:db8:85a3::8a2e:370:7334",
    "url": "https://intranet.acme-corp.com/payroll",
    "ssn": "536-22-8726",
    "mac": "00:1B:44:11:3A:B7",
    "crypto": "1BoatSLRHtKNngkdXEeobR76b53LETtpyT",
    "name": "Alice Walker",
    "name2": "Henry Jekyll",
}


def pii_messages() -> list[dict[str, Any]]:
    """A conversation carrying every PII value: system prompt, text parts, an assistant tool
    call, a tool result and a final user turn."""
    return [
        {"role": "system", "content": f"You assist {PII['email']}. Escalate to {PII['email2']}."},
        {
            "role": "user",
            "name": "alice_walker",
            "content": [
                {"type": "text", "text": f"My name is {PII['name']}."},
                {"type": "text", "text": f"My IBAN is {PII['iban']} and my SSN is {PII['ssn']}."},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "lookup",
                        "arguments": json.dumps({"email": PII["email"], "phone": PII["phone"]}),
                    },
                }
            ],
        },
        {
            "role": "tool",
            "tool_call_id": "call_1",
            "content": f"Card on file: {PII['card']}; UK line {PII['phone_uk']}.",
        },
        {
            "role": "user",
            "content": (
                f"Dr. {PII['name2']} logged in from {PII['ip']} and {PII['ipv6']} "
                f"(MAC {PII['mac']}), see {PII['url']}; wallet {PII['crypto']}. Summarize."
            ),
        },
    ]


def pii_chat_messages() -> list[dict[str, Any]]:
    """A plain chat (system prompt and user turns, no tools) carrying every PII value."""
    values = [v for k, v in PII.items() if k not in ("email", "name", "name2")]
    return [
        {"role": "system", "content": f"You assist {PII['email']}."},
        {"role": "user", "content": f"My name is {PII['name']}. Please help."},
        {"role": "assistant", "content": f"Sure, I will ask Dr. {PII['name2']}."},
        {"role": "user", "content": "Records: " + ", ".join(values) + ". Summarize them."},
    ]


def echo_placeholders(body: dict[str, Any]) -> str:
    """An upstream reply naming every placeholder it was sent, in order of first appearance."""
    seen: list[str] = []
    for found in PLACEHOLDER.findall(json.dumps(body)):
        if found not in seen:
            seen.append(found)
    return "Seen: " + " ; ".join(seen)


def leaked(bodies: list[dict[str, Any]]) -> list[str]:
    """The raw PII values that appear anywhere in the upstream request bodies."""
    dump = json.dumps(bodies, ensure_ascii=False)
    return [value for value in PII.values() if value in dump]
