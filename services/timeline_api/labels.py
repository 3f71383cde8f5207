"""Japanese and English labels of what the process definition names (phases, stages, options, items).

An id the definition no longer knows (recorded under an older process) is shown as it is.
"""

from __future__ import annotations

from shared.process import ProcessDefinition

Labels = tuple[str, str]


def of_step(process: ProcessDefinition, item_id: str) -> Labels:
    """A phase, stage or outcome (``lost``)."""
    try:
        return process.label(item_id), process.label_en(item_id)
    except KeyError:
        return item_id, item_id


def of_option(process: ProcessDefinition, field_id: str, choice: str | None) -> Labels | None:
    if choice is None:
        return None
    try:
        options = process.select_field(field_id).options
    except KeyError:
        return choice, choice
    found = next((o for o in options if o.id == choice), None)
    return (found.label, found.label_en) if found else (choice, choice)


def of_required(process: ProcessDefinition, info_id: str) -> Labels:
    info = process.required_information.get(info_id)
    return (info.label, info.label_en) if info else (info_id, info_id)


def buckets(process: ProcessDefinition) -> list[str]:
    """Every priority bucket the process can assign (hot, warm, cold by default)."""
    rules = process.priority_buckets
    return list(dict.fromkeys([r.bucket for r in rules.rules] + [rules.default]))


def phase_stage(process: ProcessDefinition, phase: str, stage: str) -> dict[str, str]:
    """The fields of ``schemas.PhaseStage``."""
    (pj, pe), (sj, se) = of_step(process, phase), of_step(process, stage)
    return {"phase": phase, "phase_label": pj, "phase_label_en": pe,
            "stage": stage, "stage_label": sj, "stage_label_en": se}


def labelled(labels: Labels | None, item_id: str) -> dict[str, str]:
    """The fields of ``schemas.Label``."""
    ja, en = labels or (item_id, item_id)
    return {"id": item_id, "label": ja, "label_en": en}
