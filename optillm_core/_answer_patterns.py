"""Regular expressions and limits of the answer module (compiled once, never mutated)."""

from __future__ import annotations

import re

_MINUS_RE = re.compile("[\u2212\u2012\ufe63\uff0d]")
_BOXED_RE = re.compile(r"\\(?:boxed|fbox)(?![A-Za-z])")
_BOXED_BARE_RE = re.compile(r"[ \t]*+([^\s$]+)")
_BRACE_RE = re.compile(r"\\?[{}]")
_BRACKET_RE = re.compile(r"[()\[\]{},]")
_NUM = r"(?:\d++(?:\.\d*+)?|\.\d++)"
_NUMBER_RE = re.compile(rf"[+-]?{_NUM}(?:e[+-]?\d{{1,3}})?", re.I)
_SLASH_RE = re.compile(rf"([+-]?{_NUM})/([+-]?{_NUM})")
_FRAC_RE = re.compile(rf"([+-]?)\\frac\{{([+-]?{_NUM})\}}\{{([+-]?{_NUM})\}}")
_NUM_TOKEN_RE = re.compile(
    r"(?:(?<![\w)\]}.])-)?(?<![\w.])"
    r"(?:\\frac\{\d+\}\{\d+\}|\d{1,3}(?:,\d{3}(?!\d))+(?:\.\d+)?|\d++(?:\.\d+)?(?:/\d+)?"
    r"|\.\d+)"
)
_LEADING_NUM_RE = re.compile(
    r"^(-?(?:\\frac\{\d+\}\{\d+\}|\d{1,3}(?:,\d{3})++(?!\d)(?:\.\d+)?|\d++(?:\.\d+)?"
    r"(?:/\d+)?))\s+[A-Za-z]"
)
_FINAL_ANSWER_RE = re.compile(r"final\s+answer[\s*]*+(?:is\b[\s*:]*+|[:=][\s*]*+)", re.I)
_ANSWER_IS_RE = re.compile(
    r"\banswer[\s*]*+(?:(?:is|would\s+be|will\s+be|should\s+be)\b[\s*:]*+|[:=][\s*]*+)", re.I
)
_GSM8K_RE = re.compile(r"####[ \t]*")
_THEREFORE_RE = re.compile(r"\b(?:therefore|thus|hence|so)\b", re.I)
_SENTENCE_END_RE = re.compile(r"[.;!?](?=\s|$)")
_FILLER_RE = re.compile(
    r"^(?:approximately|approx\.?|about|around|roughly|exactly|equal\s+to|given\s+by)\s+", re.I
)
_MATH_DELIMS_RE = re.compile(r"^\s*(\$\$|\$|\\\(|\\\[)(.*?)(\$\$|\$|\\\)|\\\])")
_TEXT_WRAP_RE = re.compile(
    r"\\(?:text|textbf|textit|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}"
)
_LEFT_RIGHT_RE = re.compile(r"\\(?:left|right)(?![A-Za-z])|\\displaystyle")
_SPACING_RE = re.compile(r"\\[!,;:]|\\q?quad(?![A-Za-z])|~")
_DEGREE_RE = re.compile(r"\^\s*\{?\s*\\circ\s*\}?|\\circ|\\degree|°")
_UNIT_RE = re.compile(
    r"(?<=[\d}])\s*(?:(?:square|sq\.?|cubic)\s+)?"
    r"(?:dollars?|usd|cents?|cm|mm|km|kg|mg|ml|meters?|metres?|inch(?:es)?|feet|foot|ft|miles?"
    r"|mph|units?|degrees?|deg|hours?|hrs?|minutes?|mins?|seconds?|secs?|days?|weeks?|months?"
    r"|years?|grams?|pounds?|lbs?|ounces?|oz|liters?|litres?|percent|points?)"
    r"(?:\^\{?\d\}?|[²³])?\.?\s*$",
    re.I,
)
_WORDY_RE = re.compile(r"^(?!.*[\d\\=^])(?:\W*\b[A-Za-z]{2,}\b){5}")
_TRAILING_PUNCT = " \t\n\r\f\v.,;:!?"
_GENERAL_LEAD = " \t\n\r\f\v*`\"'$"
_GENERAL_TRAIL = _GENERAL_LEAD + ".,;:!?"
_MAX_DEPTH = 16
_MAX_SET_FUZZY = 256
_ASSIGN_RE = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?\s*=\s*")
_THOUSANDS_RE = re.compile(r"^[+-]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$")
_FRAC_SHORT_RE = re.compile(r"\\frac\s*(\d|\{[^{}]*\})\s*(\d|\{[^{}]*\})")
_SQRT_SHORT_RE = re.compile(r"\\sqrt\s*(\d)")
_POWER_BRACE_RE = re.compile(r"\^\{(\w)\}")
_SPACE_RE = re.compile(r"\s+")
_LONE_SPACE_RE = re.compile(  # a space survives only between two letters or two digits
    r"(?<![A-Za-z\d]) | (?![A-Za-z\d])|(?<![A-Za-z]) (?!\d)|(?<!\d) (?![A-Za-z])"
)
_MCQ_PREFIX_RE = re.compile(r"^(?:option|choice|answer|letter)\b[\s:]*", re.I)
_MCQ_LETTER_RE = re.compile(r"^[(\[]?([A-Ja-j])(?:[)\].:]|\s|$)")
_MCQ_ANSWER_RE = re.compile(
    r"(?i:\b(?:answer|choice)\b)[\s*_]*+(?i:is|would\s+be|:)?[\s*:_]*+"
    r"(?i:option|choice|letter)?[\s*:]*+"
    r"(?:[(\[]([A-Ja-j])[)\]]|\**([A-J])\b(?![\w'])(?!(?<=I)\s+[a-z]))"
)
_MCQ_OPTION_RE = re.compile(
    r"(?i:\bcorrect\s+(?:option|choice)\s+is)[\s*:]*+[(\[]?\**+([A-J])\b(?![\w'])"
    r"|(?i:\boption)\s+[(\[]?([A-J])[)\]]?\s+(?i:is\s+correct)"
)
_MCQ_BOLD_RE = re.compile(r"\*\*\s*\(?([A-J])\)?[.)]?\s*\*\*")
_MCQ_LINE_RE = re.compile(r"^[\s*(\[]*([A-J])[\s*)\].:]*$")
_MCQ_END_RE = re.compile(r"\(([A-J])\)[\s.!*]*$")
_ANSWER_LINE_RE = re.compile(
    r"^[ \t*#>-]*+(?:final[ \t]+)?answer[ \t*]*+:[ \t*]*+(.+)$", re.I | re.M
)
