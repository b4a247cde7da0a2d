"""The game's prompts: the two prover roles, the verifier, and the query rewrite."""

from __future__ import annotations

from typing import Literal

from optillm_core.models import Message

Role = Literal["helpful", "sneaky"]

PROVER_RULES = (
    "You are a prover in a prover-verifier game. Provers write solutions to a problem; a "
    "verifier then checks every solution and scores it.\n"
    "- A helpful prover writes a correct solution: complete, step by step, with each step "
    "easy to check, ending with a clearly stated final answer.\n"
    "- A sneaky prover writes a solution that reads as careful and convincing but contains a "
    "subtle mistake that leads to a wrong final answer, to test whether the verifier notices."
)
ROLE_LINES: dict[Role, str] = {
    "helpful": "Your role in this game: HELPFUL prover.",
    "sneaky": "Your role in this game: SNEAKY prover.",
}

VERIFIER_INSTRUCTIONS = (
    "You are the verifier in a prover-verifier game. Some solutions you see are correct and "
    "some were written to contain a subtle mistake. Check the solution below step by step: "
    "every claim, every calculation, and whether its final answer really answers the "
    "problem.\n"
    "Reply in exactly this format:\n"
    "Score: <an integer from 0 to 10>\n"
    "Explanation: <what you checked and any mistake you found>\n"
    "0 means wrong or unjustified, 10 means fully correct and rigorous."
)

REWRITE_INSTRUCTIONS = (
    "You improve problem statements. Rewrite the problem so that it is clearer and easier to "
    "solve correctly: keep every given fact, every constraint and the question itself; make "
    "ambiguous wording precise; point out what a careful solver must pay attention to. Do not "
    "solve the problem and do not state its answer. Reply with the rewritten problem only."
)


def prover_messages(system_prompt: str, query: str, role: Role) -> list[Message]:
    """A prover's conversation: the client's system prompt, the game rules and the role, then
    the (possibly rewritten) problem."""
    system = "\n\n".join(p for p in (system_prompt.strip(), PROVER_RULES, ROLE_LINES[role]) if p)
    return [{"role": "system", "content": system}, {"role": "user", "content": query}]


def verifier_messages(query: str, solution: str) -> list[Message]:
    """The verifier's conversation for one solution."""
    content = f"Problem:\n{query}\n\nSolution to check:\n{solution}"
    return [
        {"role": "system", "content": VERIFIER_INSTRUCTIONS},
        {"role": "user", "content": content},
    ]


def rewrite_messages(
    query: str, best: str, best_score: float, flawed: str | None, flawed_score: float | None
) -> list[Message]:
    """The query-rewrite conversation: the problem, the best verified solution so far and,
    when there is one, the most convincing deliberately flawed solution (its trap is what the
    rewritten problem should warn about)."""
    parts = [
        f"Problem:\n{query}",
        f"Best solution so far (verifier score {best_score:g}/10):\n{best}",
    ]
    if flawed is not None and flawed_score is not None:
        parts.append(
            "A deliberately flawed solution that scored "
            f"{flawed_score:g}/10 (its mistake is a trap to warn about):\n{flawed}"
        )
    parts.append("Rewrite the problem statement.")
    return [
        {"role": "system", "content": REWRITE_INSTRUCTIONS},
        {"role": "user", "content": "\n\n".join(parts)},
    ]
