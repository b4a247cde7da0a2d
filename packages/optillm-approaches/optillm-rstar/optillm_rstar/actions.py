"""The five reasoning actions of ``rstar`` and the prompts that carry them out.

Every prompt shows the question and the reasoning so far (the steps on the path from the root)
and asks for one kind of next step; steps that reach the answer end with a boxed final answer,
which is what makes a node terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from optillm_core.models import Message

PROPOSE_STEP = "propose_step"
"""A1: propose the next single step."""
COMPLETE = "complete"
"""A2: carry the reasoning through to the end."""
SUB_QUESTION = "sub_question"
"""A3: pose a sub-question and answer it."""
RE_EXAMINE = "re_examine"
"""A4: redo the latest step with explicit step-by-step thinking."""
REPHRASE = "rephrase"
"""A5: restate the question, listing its conditions."""

ACTIONS: tuple[str, ...] = (PROPOSE_STEP, COMPLETE, SUB_QUESTION, RE_EXAMINE, REPHRASE)
#: Below the first level, restating the question again cannot move the reasoning forward.
DEEP_ACTIONS: tuple[str, ...] = tuple(action for action in ACTIONS if action != REPHRASE)

ROLE = (
    "You are a careful problem solver. You reason one step at a time, check your work and "
    "state results exactly."
)
FINAL_RULE = (
    "If this reaches the final answer to the question, end with the sentence "
    '"The final answer is \\boxed{...}." with the answer inside the box.'
)
INSTRUCTIONS: dict[str, str] = {
    PROPOSE_STEP: (
        "Write only the next step of the reasoning: one short, concrete step that moves toward "
        "the answer, without repeating earlier steps. " + FINAL_RULE
    ),
    COMPLETE: (
        "Continue the reasoning from where it stops and carry it through to the end. " + FINAL_RULE
    ),
    SUB_QUESTION: (
        "Pose the most useful sub-question the reasoning still has to settle, starting with "
        '"Sub-question:", then work it out. ' + FINAL_RULE
    ),
    RE_EXAMINE: (
        "Check the most recent step again, thinking step by step: redo its work, then confirm "
        "it or give a corrected version. " + FINAL_RULE
    ),
    REPHRASE: (
        "Restate the question in your own words and list every condition and given quantity it "
        "contains, one per line. Do not solve it yet."
    ),
}
FIRST_RE_EXAMINE = (
    "There is no step yet. Read the question again, thinking step by step, make sure of what "
    "it asks, and take a careful first step. " + FINAL_RULE
)
CHECK_INSTRUCTION = "Complete this partial solution from where it stops. " + FINAL_RULE
SOLVE_INSTRUCTION = "Solve the question step by step. " + FINAL_RULE
NO_STEPS = "(nothing yet)"


def actions_at(depth: int) -> tuple[str, ...]:
    """The actions allowed at a node of ``depth``: all five at the root (the question), and
    no ``rephrase`` below it, as in the rStar paper."""
    return ACTIONS if depth == 0 else DEEP_ACTIONS


def system_message(user_system: str) -> Message:
    """The system message of every call: the solver role, then the client's own system prompt."""
    content = f"{ROLE}\n\n{user_system.strip()}" if user_system.strip() else ROLE
    return {"role": "system", "content": content}


def render_steps(steps: Sequence[str]) -> str:
    """Steps as numbered paragraphs (``NO_STEPS`` when there are none)."""
    if not steps:
        return NO_STEPS
    return "\n\n".join(f"Step {i}: {text.strip()}" for i, text in enumerate(steps, 1))


def step_prompt(action: str, question: str, steps: Sequence[str]) -> str:
    """The user prompt asking for one more step of kind ``action``."""
    instruction = FIRST_RE_EXAMINE if action == RE_EXAMINE and not steps else INSTRUCTIONS[action]
    return (
        f"Question:\n{question}\n\nReasoning so far:\n{render_steps(steps)}\n\n"
        f"Your task: {instruction}"
    )


def check_prompt(question: str, prefix: Sequence[str]) -> str:
    """The user prompt of a mutual-consistency check: finish the solution from ``prefix``."""
    if not prefix:
        return f"Question:\n{question}\n\nYour task: {SOLVE_INSTRUCTION}"
    return (
        f"Question:\n{question}\n\nPartial solution:\n{render_steps(prefix)}\n\n"
        f"Your task: {CHECK_INSTRUCTION}"
    )
