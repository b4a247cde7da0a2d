"""Extracting and comparing code."""

from __future__ import annotations

import pytest

from optillm_rto.code import extract_code, same_code


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Here:\n```python\ndef f():\n    return 1\n```\nDone.", "def f():\n    return 1"),
        ("```\nx = 1\n```\n```\ny = 2\n```", "x = 1"),
        ("no fence, just x = 1  ", "no fence, just x = 1"),
        ("```js\nlet a = 1;\n  ```", "let a = 1;"),
    ],
)
def test_extract_code(text: str, code: str) -> None:
    assert extract_code(text) == code


def test_same_code_ignores_trailing_whitespace_only() -> None:
    assert same_code("def f():\n    return 1   \n\n", "\ndef f():\n    return 1")
    assert not same_code("def f():\n    return 1", "def f():\n  return 1")
