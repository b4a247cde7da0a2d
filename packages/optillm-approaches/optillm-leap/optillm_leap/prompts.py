"""The prompts of ``leap`` (written for this project)."""

from __future__ import annotations

EXTRACT = """\
Below is a request from a user. Find the worked examples it contains, if any: example \
questions (or inputs) shown together with their answers (or outputs), as in a few-shot prompt. \
Copy them; do not solve anything and do not invent examples.

Reply with a JSON array inside <output> tags, one object per example with the string fields \
"question" and "answer", for instance:
<output>[{{"question": "...", "answer": "..."}}]</output>
If the request contains no such examples, reply <output>[]</output>.

The request:
<request>
{query}
</request>"""

MISTAKE = """\
Solve the problem below step by step. Somewhere in your reasoning, make the kind of mistake \
people commonly make on problems like this one, and carry it through to the end. Give your \
final answer alone inside <output> tags.

Problem:
{question}"""

PRINCIPLE = """\
Below are a problem, a step-by-step solution that contains a mistake, the final answer it \
reached, and the correct answer.

Problem:
{question}

Flawed solution:
{solution}

Answer reached: {wrong}
Correct answer: {right}

First explain where and why the solution went wrong. Then state one general principle — \
useful beyond this particular problem — that would have prevented the mistake. Put only that \
principle, in one or two sentences, inside <output> tags."""

CONDENSE = """\
Below are lessons learned from mistakes made on example problems.

{principles}

Merge them into at most {limit} distinct, general, high-level principles: combine those that \
say the same thing and drop details that apply to one problem only. Reply with the principles \
inside <output> tags as a numbered list, one principle per line."""

APPLY = """\
While answering, apply these principles, learned from mistakes on problems like this one:
{principles}"""
