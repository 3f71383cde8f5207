"""The sales process as data: phases, stages, transition criteria and fields.

Every model checks what it can see on its own (a criterion its facts, a select
field its options); ProcessDefinition checks the references between parts.
A failed check raises DefinitionProblem with the path of the offending value,
which the loader turns into a line of the YAML file.
"""
from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, StrictInt, model_validator

from .facts import FACTS

Loc = tuple[str | int, ...]
Ids = tuple[str, ...]
NonEmpty = Field(min_length=1)


class DefinitionProblem(ValueError):
    """A problem at `loc` (relative to the model that found it); `first`: where a clashing id was."""

    def __init__(self, loc: Loc, problem: str, first: Loc | None = None):
        self.loc, self.problem, self.first = loc, problem, first
        where = "" if first is None else f" (first at {dotted(first)})"
        super().__init__(f"{dotted(loc)}: {problem}{where}" if loc else problem + where)


def dotted(loc: Loc) -> str:
    """('phases', 0, 'stages') -> 'phases[0].stages'."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def unknown(kind: str, value: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(value, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"unknown {kind} '{value}'{hint} (known: {', '.join(known) or 'none'})"


def duplicates(items: Iterable[tuple[str, str, Loc]]) -> Iterator[DefinitionProblem]:
    """(what, value, loc) -> a problem for each value seen before, e.g. "stage id 'x' is used twice"."""
    first: dict[str, Loc] = {}
    for what, value, loc in items:
        if value in first:
            yield DefinitionProblem(loc, f"{what} '{value}' is used twice", first[value])
        first.setdefault(value, loc)


def raise_first(problems: Iterator[DefinitionProblem]) -> None:
    for problem in problems:
        raise problem


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Option(_Model):
    id: str
    label: str
    label_en: str


class SelectField(_Model):
    id: str
    label: str
    label_en: str
    options: Annotated[tuple[Option, ...], NonEmpty]

    @model_validator(mode="after")
    def _unique_options(self) -> SelectField:
        raise_first(duplicates(("option id", o.id, ("options", i, "id")) for i, o in enumerate(self.options)))
        return self

    def has(self, option_id: str) -> bool:
        return any(option.id == option_id for option in self.options)


class RequiredInfo(_Model):
    id: str
    label: str
    label_en: str
    fact: str
    reason: str  # why it is asked: shown to reps

    @model_validator(mode="after")
    def _known_fact(self) -> RequiredInfo:
        if self.fact not in FACTS:
            raise DefinitionProblem(("fact",), unknown("fact", self.fact, FACTS))
        return self


Percent = Annotated[StrictInt, Field(ge=0, le=100)]
# Win probability (%) of a stage whose phase gives none in the definition: the defaults by phase id.
DEFAULT_WIN_PROBABILITY: dict[str, int] = {"approach": 10, "hearing": 20, "proposal": 40, "closing": 70,
                                           "won": 100, "follow": 100}


class Stage(_Model):
    id: str
    label: str
    label_en: str
    stagnation_days: Annotated[StrictInt, Field(gt=0)]
    required: Ids = ()  # in addition to the phase's
    win_probability: Percent | None = None  # %, 0-100; None: the phase's


class Phase(_Model):
    id: str
    label: str
    label_en: str
    description: str = ""
    required: Ids = ()  # applies to every stage of the phase
    win_probability: Percent | None = None  # %, 0-100, of its stages that give none; None: DEFAULT_WIN_PROBABILITY
    stages: Annotated[tuple[Stage, ...], NonEmpty]


class Criterion(_Model):
    id: str
    label: str
    label_en: str
    all_of: Ids = ()
    any_of: Ids = ()

    @model_validator(mode="after")
    def _one_list_of_known_facts(self) -> Criterion:
        if bool(self.all_of) == bool(self.any_of):
            found = "both" if self.all_of else "neither"
            problem = f"criterion '{self.id}' needs facts in exactly one of all_of or any_of (found {found})"
            raise DefinitionProblem((), problem)
        key = "all_of" if self.all_of else "any_of"
        for i, fact in enumerate(self.facts):
            if fact not in FACTS:
                raise DefinitionProblem((key, i), unknown("fact", fact, FACTS))
        return self

    @property
    def facts(self) -> Ids:
        return self.all_of or self.any_of

    def holds(self, facts: Collection[str]) -> bool:
        if self.all_of:
            return all(fact in facts for fact in self.all_of)
        return any(fact in facts for fact in self.any_of)


class Transition(_Model):
    model_config = ConfigDict(populate_by_name=True)
    from_phase: str = Field(alias="from")
    to_phase: str = Field(alias="to")
    criteria: tuple[Criterion, ...] = ()

    @model_validator(mode="after")
    def _unique_criteria(self) -> Transition:
        ids = (("criterion id", c.id, ("criteria", i, "id")) for i, c in enumerate(self.criteria))
        raise_first(duplicates(ids))
        return self

    def unmet(self, facts: Collection[str]) -> tuple[Criterion, ...]:
        return tuple(criterion for criterion in self.criteria if not criterion.holds(facts))


class DealOutcome(_Model):
    """How a deal can end (won, lost), and the select field holding its reason."""

    id: str
    label: str
    label_en: str
    reason_field: str | None = None  # the select field holding the reason, e.g. lost_reason


class BucketRule(_Model):
    bucket: str
    temperature: Annotated[Ids, NonEmpty] | None = None  # None: any value, also none recorded
    decision_status: Annotated[Ids, NonEmpty] | None = None

    def matches(self, temperature: str | None, decision_status: str | None) -> bool:
        return ((self.temperature is None or temperature in self.temperature)
                and (self.decision_status is None or decision_status in self.decision_status))


class PriorityBuckets(_Model):
    rules: tuple[BucketRule, ...] = ()  # the first matching rule wins
    default: str


class ProcessDefinition(_Model):
    name: str
    phases: Annotated[tuple[Phase, ...], NonEmpty]
    required_information: dict[str, RequiredInfo] = {}
    transitions: tuple[Transition, ...] = ()
    outcomes: dict[str, DealOutcome] = {}
    select_fields: dict[str, SelectField] = {}
    priority_buckets: PriorityBuckets
    # id -> position (and phase), read as self.__pydantic_private__[...] by the lookups below: ``self._stages`` goes
    # through pydantic's __getattr__ (~1 µs), and the domain, the importer and the pipeline ask per event
    _phases: dict[str, tuple[int, Phase]] = PrivateAttr(default_factory=dict)
    _stages: dict[str, tuple[int, Phase, Stage]] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _ids_from_keys(cls, data: Any) -> Any:
        """In YAML the key is the id: `lead_source: {label: ...}`."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        for section in ("required_information", "outcomes", "select_fields"):
            if isinstance(data.get(section), dict):
                data[section] = {key: _with_id(key, item) for key, item in data[section].items()}
        return data

    def model_post_init(self, context: Any) -> None:
        stages = [(phase, stage) for phase in self.phases for stage in phase.stages]
        self._phases.update((phase.id, (i, phase)) for i, phase in enumerate(self.phases))
        self._stages.update((stage.id, (i, phase, stage)) for i, (phase, stage) in enumerate(stages))

    @model_validator(mode="after")
    def _consistent(self) -> ProcessDefinition:
        raise_first(_reference_problems(self))
        return self

    def first_stage(self) -> Stage:
        return self.phases[0].stages[0]

    def stages(self) -> tuple[Stage, ...]:
        """All stages, in process order."""
        return tuple(stage for _, _, stage in self.__pydantic_private__["_stages"].values())

    def has_stage(self, stage_id: str) -> bool:
        return stage_id in self.__pydantic_private__["_stages"]

    def stage(self, stage_id: str) -> Stage:
        return _get(self.__pydantic_private__["_stages"], "stage", stage_id)[2]

    def stage_index(self, stage_id: str) -> int:
        """Position in the whole process (0 = first stage of the first phase)."""
        return _get(self.__pydantic_private__["_stages"], "stage", stage_id)[0]

    def phase_of(self, stage_id: str) -> Phase:
        return _get(self.__pydantic_private__["_stages"], "stage", stage_id)[1]

    def phase(self, phase_id: str) -> Phase:
        return _get(self.__pydantic_private__["_phases"], "phase", phase_id)[1]

    def phase_index(self, phase_id: str) -> int:
        return _get(self.__pydantic_private__["_phases"], "phase", phase_id)[0]

    def win_probability(self, stage_id: str) -> int:
        """The chance (%, 0-100) that a deal in this stage is won: the stage's own, else its phase's, else the
        default for the phase id (``DEFAULT_WIN_PROBABILITY``); the definition's check makes one of them exist."""
        phase, stage = self.phase_of(stage_id), self.stage(stage_id)
        if stage.win_probability is not None:
            return stage.win_probability
        return phase.win_probability if phase.win_probability is not None else DEFAULT_WIN_PROBABILITY[phase.id]

    def win_probabilities(self) -> dict[str, int]:
        """Every stage's win probability (%), in process order."""
        return {stage.id: self.win_probability(stage.id) for stage in self.stages()}

    def transition(self, from_phase: str, to_phase: str) -> Transition | None:
        pair = (from_phase, to_phase)
        return next((t for t in self.transitions if (t.from_phase, t.to_phase) == pair), None)

    def required_for(self, stage_id: str) -> tuple[RequiredInfo, ...]:
        """The phase's required information, then the stage's own, without duplicates."""
        ids = self.phase_of(stage_id).required + self.stage(stage_id).required
        return tuple(self.required_information[info_id] for info_id in dict.fromkeys(ids))

    def select_field(self, field_id: str) -> SelectField:
        return _get(self.select_fields, "select field", field_id)

    def bucket(self, temperature: str | None, decision_status: str | None) -> str:
        matching = (r.bucket for r in self.priority_buckets.rules if r.matches(temperature, decision_status))
        return next(matching, self.priority_buckets.default)

    def label(self, item_id: str) -> str:
        """Japanese label of a phase, stage or outcome."""
        return self._labelled(item_id).label

    def label_en(self, item_id: str) -> str:
        return self._labelled(item_id).label_en

    def _labelled(self, item_id: str) -> Phase | Stage | DealOutcome:
        if item_id in self.__pydantic_private__["_phases"]:
            return self.__pydantic_private__["_phases"][item_id][1]
        if item_id in self.__pydantic_private__["_stages"]:
            return self.__pydantic_private__["_stages"][item_id][2]
        return _get(self.outcomes, "phase, stage or outcome", item_id)


def _with_id(key: str, item: Any) -> Any:
    return {"id": key, **item} if isinstance(item, dict) and "id" not in item else item


def _get(index: dict[str, Any], kind: str, key: str) -> Any:
    try:
        return index[key]
    except KeyError:
        raise KeyError(f"unknown {kind} '{key}'") from None


def _reference_problems(process: ProcessDefinition) -> Iterator[DefinitionProblem]:
    """Checks across parts, in document order; phases, stages and outcomes share one id space."""
    ids: list[tuple[str, str, Loc]] = []
    for p, phase in enumerate(process.phases):
        ids.append(("phase id", phase.id, ("phases", p, "id")))
        yield from _required_problems(process, phase.required, ("phases", p, "required"))
        for s, stage in enumerate(phase.stages):
            ids.append(("stage id", stage.id, ("phases", p, "stages", s, "id")))
            yield from _required_problems(process, stage.required, ("phases", p, "stages", s, "required"))
        if phase.win_probability is None and phase.id not in DEFAULT_WIN_PROBABILITY \
                and any(stage.win_probability is None for stage in phase.stages):
            yield DefinitionProblem(("phases", p, "id"), f"phase '{phase.id}' needs a win_probability (0-100 %) "
                                    "for its stages that give none: there is no default for this phase id")
    ids += [("outcome id", key, ("outcomes", key)) for key in process.outcomes]
    yield from duplicates(ids)
    for section in ("required_information", "outcomes", "select_fields"):
        for key, item in getattr(process, section).items():
            if item.id != key:
                yield DefinitionProblem((section, key, "id"), f"id '{item.id}' differs from its key '{key}'")
    yield from _transition_problems(process)
    for key, outcome in process.outcomes.items():
        if outcome.reason_field is not None and outcome.reason_field not in process.select_fields:
            problem = unknown("select field", outcome.reason_field, process.select_fields)
            yield DefinitionProblem(("outcomes", key, "reason_field"), problem)
    yield from _bucket_problems(process)


def _required_problems(process: ProcessDefinition, ids: Ids, loc: Loc) -> Iterator[DefinitionProblem]:
    for i, info_id in enumerate(ids):
        if info_id not in process.required_information:
            known = process.required_information
            yield DefinitionProblem(loc + (i,), unknown("required information", info_id, known))


def _transition_problems(process: ProcessDefinition) -> Iterator[DefinitionProblem]:
    order = [phase.id for phase in process.phases]
    for t, transition in enumerate(process.transitions):
        ends = {"from": transition.from_phase, "to": transition.to_phase}
        for end, phase_id in ends.items():
            if phase_id not in order:
                yield DefinitionProblem(("transitions", t, end), unknown("phase", phase_id, order))
        after = order.index(ends["from"]) + 1 if ends["from"] in order else None
        if after is not None and ends["to"] in order and after != order.index(ends["to"]):
            next_one = f"after '{ends['from']}' comes '{order[after]}'" if after < len(order) \
                else f"'{ends['from']}' is the last phase"
            problem = f"a transition must join consecutive phases: {next_one}"
            yield DefinitionProblem(("transitions", t, "to"), problem)
    yield from duplicates(("transition", f"{t.from_phase} -> {t.to_phase}", ("transitions", i))
                          for i, t in enumerate(process.transitions))


def _bucket_problems(process: ProcessDefinition) -> Iterator[DefinitionProblem]:
    for r, rule in enumerate(process.priority_buckets.rules):
        for field_id in ("temperature", "decision_status"):
            values, loc = getattr(rule, field_id), ("priority_buckets", "rules", r, field_id)
            if values is None:
                continue
            if field_id not in process.select_fields:
                yield DefinitionProblem(loc, f"{field_id} needs a select field '{field_id}' in select_fields")
                continue
            options = [option.id for option in process.select_fields[field_id].options]
            for v, value in enumerate(values):
                if value not in options:
                    yield DefinitionProblem(loc + (v,), unknown(f"{field_id} option", value, options))
