"""The sales process definition: the packaged default and the loader's errors."""
from pathlib import Path

import pytest

from shared.process import (
    FACTS,
    Criterion,
    ProcessDefinitionError,
    load_process_definition,
    parse_process_definition,
)
from shared.process.loader import DEFAULT_PATH

DEFAULT_TEXT = DEFAULT_PATH.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def process():
    return load_process_definition()


# --- the default process ------------------------------------------------------

def test_default_has_the_six_phases_in_order(process):
    assert [p.id for p in process.phases] == ["approach", "hearing", "proposal", "closing", "won", "follow"]
    assert [p.label for p in process.phases] == ["アプローチ", "ヒアリング", "提案", "クロージング", "成約", "フォロー"]


def test_stages_are_ordered_across_phases(process):
    assert process.first_stage().id == "lead_acquired"
    assert [s.id for s in process.phase("proposal").stages] == [
        "preparing_materials", "proposal_sent_waiting", "revising", "quote_submitted"]
    assert process.stage_index("lead_acquired") == 0
    assert process.stage_index("hearing_done") == 3
    assert process.stage_index("upsell_review") == len(process.stages()) - 1 == 17
    assert process.phase_of("in_approval").id == "closing"
    assert process.phase_index("closing") == 3
    assert process.stage("bant_checking").stagnation_days == 21
    assert process.has_stage("revising") and not process.has_stage("closing")


def test_unknown_ids_raise_key_error(process):
    with pytest.raises(KeyError, match="unknown stage 'nowhere'"):
        process.stage("nowhere")
    with pytest.raises(KeyError):
        process.phase("nowhere")
    with pytest.raises(KeyError):
        process.select_field("nowhere")


def test_labels_of_phases_stages_and_outcomes(process):
    assert process.label("closing") == "クロージング"
    assert process.label("proposal_sent_waiting") == "提案済み・反応待ち"
    assert process.label("lost") == "失注"
    assert process.label_en("meeting_booked") == "Meeting booked"


def test_required_for_combines_phase_and_stage_items(process):
    ids = [info.id for info in process.required_for("bant_checking")]
    assert ids == ["hearing_issue", "hearing_reason", "hearing_decision_maker", "hearing_budget",
                   "hearing_timeline", "bant"]
    assert [i.id for i in process.required_for("hearing_done")] == ids[:5]
    assert process.required_information["bant"].fact == "bant_confirmed"


def test_every_required_item_maps_to_a_known_fact(process):
    assert all(info.fact in FACTS for info in process.required_information.values())
    assert all(info.reason for info in process.required_information.values())


def test_transition_criteria(process):
    transition = process.transition("hearing", "proposal")
    assert [c.id for c in transition.criteria] == ["first_meeting_held", "proposal_or_quote_sent"]
    assert [c.id for c in process.transition("approach", "hearing").criteria] == [
        "first_contact_completed", "contact_person_captured", "company_info_captured", "hearing_started"]
    assert process.transition("approach", "proposal") is None
    assert [c.id for c in transition.unmet({"meeting_held"})] == ["proposal_or_quote_sent"]
    assert transition.unmet({"meeting_held", "quote_submitted"}) == ()


def test_criterion_all_of_needs_every_fact():
    criterion = Criterion(id="c", label="条件", label_en="Criterion", all_of=("terms_agreed", "contract_signed"))
    assert criterion.holds({"terms_agreed", "contract_signed", "meeting_held"})
    assert not criterion.holds({"terms_agreed"})
    assert not criterion.holds(frozenset())


def test_criterion_any_of_needs_one_fact():
    criterion = Criterion(id="c", label="条件", label_en="Criterion", any_of=("proposal_sent", "quote_submitted"))
    assert criterion.holds({"quote_submitted"})
    assert not criterion.holds({"meeting_held"})


def test_criterion_needs_exactly_one_list():
    with pytest.raises(ValueError, match="exactly one"):
        Criterion(id="c", label="条件", label_en="Criterion", all_of=("a",), any_of=("b",))
    with pytest.raises(ValueError, match="exactly one"):
        Criterion(id="c", label="条件", label_en="Criterion")


@pytest.mark.parametrize(("temperature", "status", "bucket"), [
    ("high", "decided", "hot"),
    ("high", "in_approval", "hot"),
    ("high", "considering", "warm"),
    ("high", None, "warm"),
    ("medium", "considering", "warm"),
    ("medium", "decided", "warm"),
    ("medium", "undecided", "cold"),
    ("low", "decided", "cold"),
    (None, None, "cold"),
])
def test_priority_buckets(process, temperature, status, bucket):
    assert process.bucket(temperature, status) == bucket


def test_select_fields(process):
    assert [o.label for o in process.select_field("initial_reaction").options] == ["前向き", "検討中", "やや慎重", "否定的"]
    assert process.select_field("competitor").has("yes") and process.select_field("competitor").has("no")
    assert not process.select_field("hurdle").has("budget")
    assert process.outcomes["lost"].reason_field == "lost_reason"


def test_definition_is_frozen(process):
    with pytest.raises(ValueError):
        process.name = "別のプロセス"


def test_round_trips_through_json(process):
    assert type(process).model_validate_json(process.model_dump_json(by_alias=True)) == process


# --- malformed files ----------------------------------------------------------

def write_variant(tmp_path: Path, old: str, new: str) -> tuple[Path, str]:
    assert DEFAULT_TEXT.count(old) == 1, old
    text = DEFAULT_TEXT.replace(old, new)
    path = tmp_path / "process.yaml"
    path.write_text(text, encoding="utf-8")
    return path, text


def line_of(text: str, marker: str) -> int:
    [line] = [n for n, content in enumerate(text.splitlines(), 1) if marker in content]
    return line


def load_error(path: Path) -> ProcessDefinitionError:
    with pytest.raises(ProcessDefinitionError) as caught:
        load_process_definition(path)
    error = caught.value
    assert error.path == str(path)
    assert str(error) == f"{path}:{error.line}: {error.problem}"
    return error


def test_yaml_syntax_error(tmp_path):
    path, text = write_variant(tmp_path, "    label: ヒアリング\n", "    label: ヒアリング: 聞き取り\n")
    error = load_error(path)
    assert error.line == line_of(text, "ヒアリング: 聞き取り")
    assert "invalid YAML" in error.problem


def test_unknown_fact_in_a_criterion(tmp_path):
    path, text = write_variant(tmp_path, "all_of: [meeting_held]", "all_of: [meeting_hold]")
    error = load_error(path)
    assert error.line == line_of(text, "meeting_hold]")
    assert error.problem.startswith("unknown fact 'meeting_hold'; did you mean 'meeting_held'?")


def test_unknown_fact_in_required_information(tmp_path):
    path, text = write_variant(tmp_path, "fact: bant_confirmed", "fact: bant_done")
    error = load_error(path)
    assert error.line == line_of(text, "fact: bant_done")
    assert "unknown fact 'bant_done'" in error.problem


def test_duplicate_stage_id(tmp_path):
    path, text = write_variant(tmp_path, "{id: quote_submitted, label:", "{id: revising, label:")
    error = load_error(path)
    assert error.line == line_of(text, "{id: revising, label: 見積提出済み")
    first = line_of(text, "{id: revising, label: 修正対応中")
    assert error.problem == f"stage id 'revising' is used twice (first at line {first})"


def test_stage_without_label(tmp_path):
    path, text = write_variant(tmp_path, "{id: in_approval, label: 稟議中, label_en: In internal",
                               "{id: in_approval, label_en: In internal")
    error = load_error(path)
    assert error.line == line_of(text, "{id: in_approval, label_en")
    assert error.problem == "missing required key 'label' in phases[3].stages[1]"


def test_stagnation_days_of_wrong_type(tmp_path):
    path, text = write_variant(tmp_path, "Arranging a meeting, stagnation_days: 10",
                               "Arranging a meeting, stagnation_days: ten")
    error = load_error(path)
    assert error.line == line_of(text, "stagnation_days: ten")
    assert error.problem.startswith("phases[0].stages[2].stagnation_days: Input should be a valid integer")
    assert "'ten'" in error.problem


def test_stagnation_days_must_be_positive(tmp_path):
    path, text = write_variant(tmp_path, "Lead acquired, stagnation_days: 14", "Lead acquired, stagnation_days: 0")
    error = load_error(path)
    assert error.line == line_of(text, "stagnation_days: 0")
    assert "greater than 0" in error.problem


def test_unknown_key(tmp_path):
    path, text = write_variant(tmp_path, "    label_en: Closing\n", "    label_en: Closing\n    colour: red\n")
    error = load_error(path)
    assert error.line == line_of(text, "colour: red")
    assert error.problem == "unknown key 'colour' in phases[3]"


def test_list_given_as_a_single_value(tmp_path):
    path, text = write_variant(tmp_path, "required: [bant]}", "required: bant}")
    error = load_error(path)
    assert error.line == line_of(text, "required: bant}")
    assert error.problem == "phases[1].stages[1].required: should be a list (got 'bant')"


def test_unquoted_no_is_explained(tmp_path):
    path, text = write_variant(tmp_path, '{id: "no", label: なし', "{id: no, label: なし")
    error = load_error(path)
    assert error.line == line_of(text, "{id: no, label: なし")
    assert "quote them" in error.problem


def test_unknown_required_information_id(tmp_path):
    path, text = write_variant(tmp_path, "required: [quote]}", "required: [qoute]}")
    error = load_error(path)
    assert error.line == line_of(text, "[qoute]")
    assert error.problem.startswith("unknown required information 'qoute'; did you mean 'quote'?")


def test_non_consecutive_transition(tmp_path):
    path, text = write_variant(tmp_path, "  - from: hearing\n    to: proposal\n",
                               "  - from: hearing\n    to: closing\n")
    error = load_error(path)
    assert error.line == line_of(text, "- from: hearing") + 1
    assert "consecutive" in error.problem and "'proposal'" in error.problem


def test_transition_from_unknown_phase(tmp_path):
    path, text = write_variant(tmp_path, "  - from: won\n", "  - from: signed\n")
    error = load_error(path)
    assert error.line == line_of(text, "from: signed")
    assert error.problem.startswith("unknown phase 'signed'")


def test_criterion_with_both_lists(tmp_path):
    path, text = write_variant(tmp_path, "all_of: [handed_off_to_cs]",
                               "all_of: [handed_off_to_cs]\n        any_of: [meeting_held]")
    error = load_error(path)
    assert error.line == line_of(text, "id: handed_off_to_cs")
    assert "exactly one of all_of or any_of (found both)" in error.problem


def test_duplicate_criterion_id(tmp_path):
    path, text = write_variant(tmp_path, "- id: contract_signed\n", "- id: terms_agreed\n")
    error = load_error(path)
    lines = [n for n, content in enumerate(text.splitlines(), 1) if "- id: terms_agreed" in content]
    assert error.line == lines[1]
    assert error.problem == f"criterion id 'terms_agreed' is used twice (first at line {lines[0]})"


def test_bucket_rule_with_unknown_option(tmp_path):
    path, text = write_variant(tmp_path, "{bucket: hot, temperature: [high],",
                               "{bucket: hot, temperature: [hot],")
    error = load_error(path)
    assert error.line == line_of(text, "temperature: [hot]")
    assert error.problem.startswith("unknown temperature option 'hot'")


def test_duplicate_yaml_key(tmp_path):
    path, text = write_variant(tmp_path, "  satisfaction:\n", "  quote:\n")
    error = load_error(path)
    quotes = [n for n, content in enumerate(text.splitlines(), 1) if content == "  quote:"]
    assert error.line == quotes[1]
    assert error.problem == f"key 'quote' is used twice in required_information (first at line {quotes[0]})"


@pytest.mark.parametrize("text", ["- approach\n- hearing\n", "just text\n", ""])
def test_document_must_be_a_mapping(text):
    with pytest.raises(ProcessDefinitionError, match="must be a mapping") as caught:
        parse_process_definition(text, "inline.yaml")
    assert caught.value.line == 1


def test_missing_file(tmp_path):
    with pytest.raises(ProcessDefinitionError, match="cannot read") as caught:
        load_process_definition(tmp_path / "absent.yaml")
    assert caught.value.line is None
    assert str(caught.value).startswith(f"{tmp_path / 'absent.yaml'}: ")
