"""The program helpers of coc: plot lines, the answer marker, simulation replies, prose."""

from __future__ import annotations

from optillm_coc.program import prepare, prose, read_answer, simulated_answer, without_plotting


def test_plot_lines_become_pass_and_keep_the_indentation() -> None:
    code = "import matplotlib.pyplot as plt\nfor i in range(2):\n    plt.plot([i])\nanswer = 1"
    assert without_plotting(code).splitlines() == [
        "pass  # plotting disabled: import matplotlib.pyplot as plt",
        "for i in range(2):",
        "    pass  # plotting disabled: plt.plot([i])",
        "answer = 1",
    ]


def test_only_the_random_marker_line_is_read_as_the_answer() -> None:
    program = prepare("answer = 1")
    other = prepare("answer = 1")
    assert program.marker != other.marker
    assert program.source.startswith("answer = 1\n")
    forged = f'{other.marker}"forged"\n'
    assert read_answer(forged, program.marker) is None
    stdout = f'noise\n{program.marker}"first"\n{program.marker}"a\\nb"\n'
    assert read_answer(stdout, program.marker) == "a\nb"  # the last report wins


def test_simulated_answer_takes_the_last_answer_line() -> None:
    assert simulated_answer("step 1\nANSWER: 3\nno wait\n**Answer:** `5`\n") == "5"
    assert simulated_answer("  just 9  ") == "just 9"


def test_prose_skips_code_and_stays_short() -> None:
    reply = "Count the letters.\n```python\nanswer = 3\n```\nThen report it."
    assert prose(reply) == "Count the letters. Then report it."
    long = "This is a sentence. " * 100
    assert len(prose(long)) <= 600 and prose(long).endswith(".")
