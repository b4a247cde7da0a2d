"""Request bodies to ``litellm.acompletion`` keyword arguments; responses to OpenAI dicts.

Every body field is passed on as a keyword argument, so provider extras (``top_k``,
``thinking``, ``safety_settings`` …) reach LiteLLM. Fields that would choose *where* LiteLLM
connects or *with which credentials* are refused with a 400 instead: with ``api_base`` alone a
client could make the proxy send the operator's provider key to a host of its choosing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

from optillm_core import InvalidRequestError, UpstreamError

#: Connection, credential and retry settings of LiteLLM (and of the provider SDKs it calls).
TRANSPORT_FIELDS = frozenset(
    {
        "api_base",
        "api_key",
        "api_version",
        "apikey",
        "account_id",
        "base_url",
        "client",
        "client_id",
        "client_secret",
        "custom_endpoint",
        "custom_llm_provider",
        "default_headers",
        "deployment_id",
        "deployment_url",
        "extra_headers",
        "fallbacks",
        "headers",
        "max_retries",
        "mock_response",
        "model_list",
        "num_retries",
        "organization",
        "project_id",
        "request_timeout",
        "session_id",
        "shared_session",
        "ssl_verify",
        "stream_timeout",
        "tenant_id",
        "timeout",
        "token",
        "url",
        "use_psc_endpoint_format",
    }
)
#: Name shapes of provider credential and endpoint settings (``aws_secret_access_key``,
#: ``vertex_location``, ``azure_ad_token``, ``sagemaker_base_url``, ``oci_key_file`` …).
TRANSPORT_PREFIXES = (
    "_",
    "aws_",
    "azure_",
    "bedrock_",
    "gigachat_",
    "litellm_",
    "oci_",
    "sagemaker_",
    "vertex_",
    "watsonx_",
)
TRANSPORT_SUFFIXES = (
    "_api_base",
    "_api_key",
    "_auth_file",
    "_credentials",
    "_endpoint",
    "_key_file",
    "_location",
    "_project",
    "_region",
    "_region_name",
    "_secret",
    "_token",
    "_url",
)
#: OpenAI request fields that LiteLLM also reads for itself; they stay allowed.
OPENAI_FIELDS = frozenset({"metadata"})
#: LiteLLM-only response fields, dropped when empty so clients see OpenAI's shape.
LITELLM_EXTRAS = ("provider_specific_fields", "citations", "moderation")


def is_transport_field(name: str) -> bool:
    """Whether ``name`` is one of LiteLLM's connection or credential settings."""
    return (
        name in TRANSPORT_FIELDS
        or name.startswith(TRANSPORT_PREFIXES)
        or name.endswith(TRANSPORT_SUFFIXES)
    )


def refused_fields(body: Iterable[str], owned: Callable[[str], bool]) -> list[str]:
    """The body fields a client may not set: transport settings and LiteLLM's own kwargs.

    ``owned(name)`` is LiteLLM's own test for its internal keyword arguments.
    """
    return sorted(
        name
        for name in body
        if name not in OPENAI_FIELDS and (is_transport_field(name) or owned(name))
    )


def call_kwargs(
    body: dict[str, Any], fixed: dict[str, Any], owned: Callable[[str], bool]
) -> dict[str, Any]:
    """``body`` as keyword arguments for ``litellm.acompletion``, plus the upstream's ``fixed``
    settings (timeout, retries, ``api_base``, ``api_key``); refused fields raise a 400.

    The body is deep-copied: LiteLLM writes into some arguments (``metadata``), and the core
    shares message lists between concurrent calls and keeps request bodies for its logs.
    """
    refused = refused_fields(body, owned)
    if refused:
        raise InvalidRequestError(
            f"Request field(s) {', '.join(refused)} cannot be set through this proxy: they are "
            "LiteLLM connection or credential settings, which only the operator configures.",
            param=refused[0],
            code="unsupported_parameter",
        )
    return {**copy.deepcopy(body), **fixed}


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    for key in LITELLM_EXTRAS:
        if key in data and not data[key]:
            del data[key]
    return data


def plain(obj: Any) -> dict[str, Any]:
    """A LiteLLM ``ModelResponse`` or stream chunk as a plain OpenAI-shaped dict."""
    data = obj.model_dump() if hasattr(obj, "model_dump") else obj
    if not isinstance(data, dict):
        raise UpstreamError(
            "Invalid upstream response: not a chat completion.",
            status=502,
            code="upstream_bad_response",
        )
    choices = data.get("choices")
    if not isinstance(choices, list):
        raise UpstreamError(
            "Invalid upstream response: not a chat completion.",
            status=502,
            code="upstream_bad_response",
        )
    for choice in choices:
        if isinstance(choice, dict):
            _prune(choice)
            for part in ("message", "delta"):
                if isinstance(choice.get(part), dict):
                    _prune(choice[part])
    return _prune(data)
