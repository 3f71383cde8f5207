"""Win probabilities in the process definition: every stage has one within 0-100 %, from the stage, its phase
or the default for the phase id; the loader refuses what is out of range or missing, naming the line."""

import pytest

from shared.process import ProcessDefinitionError, load_process_definition, parse_process_definition
from shared.process.definition import DEFAULT_WIN_PROBABILITY
from shared.process.loader import DEFAULT_PATH

DEFAULT_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")


def variant(old: str, new: str) -> str:
    assert DEFAULT_TEXT.count(old) == 1, old
    return DEFAULT_TEXT.replace(old, new)


def refusal(text: str) -> ProcessDefinitionError:
    with pytest.raises(ProcessDefinitionError) as caught:
        parse_process_definition(text, "process.yaml")
    return caught.value


def line_of(text: str, marker: str) -> int:
    [line] = [n for n, content in enumerate(text.splitlines(), 1) if marker in content]
    return line


def test_every_stage_of_the_default_has_a_probability_within_range() -> None:
    process = load_process_definition()
    probabilities = process.win_probabilities()
    assert list(probabilities) == [s.id for s in process.stages()]
    assert all(isinstance(p, int) and 0 <= p <= 100 for p in probabilities.values())
    assert [process.win_probability(p.stages[0].id) for p in process.phases] == [10, 20, 40, 70, 100, 100]
    assert {p.id: p.win_probability for p in process.phases} == DEFAULT_WIN_PROBABILITY


def test_a_stage_may_give_its_own_and_a_phase_without_one_takes_the_default() -> None:
    text = variant("{id: quote_submitted, label: 見積提出済み, label_en: Quote submitted, stagnation_days: 14,",
                   "{id: quote_submitted, label: 見積提出済み, label_en: Quote submitted, stagnation_days: 14, "
                   "win_probability: 55,")
    text = text.replace("    win_probability: 70\n", "", 1)
    process = parse_process_definition(text)
    assert process.win_probability("quote_submitted") == 55
    assert process.win_probability("revising") == 40
    assert process.win_probability("in_approval") == 70  # closing's default


@pytest.mark.parametrize("value", ["101", "-1", "0.5", "'40'", "true"])
def test_a_probability_out_of_range_or_not_an_integer_is_refused(value: str) -> None:
    text = variant("    win_probability: 40\n", f"    win_probability: {value}\n")
    error = refusal(text)
    assert error.line == line_of(text, f"win_probability: {value}")
    assert "win_probability" in error.problem


def test_a_phase_without_a_default_must_give_one() -> None:
    text = variant("  - id: follow\n", "  - id: aftercare\n").replace("    to: follow\n", "    to: aftercare\n")
    text = text.replace("    win_probability: 100\n    stages:\n      - {id: onboarding", "    stages:\n      - {id: onboarding")
    error = refusal(text)
    assert "phase 'aftercare' needs a win_probability" in error.problem
    assert error.line == line_of(text, "- id: aftercare")
