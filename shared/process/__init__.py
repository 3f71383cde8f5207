"""The configurable sales process: phases, stages, criteria, required information, fields."""
from .definition import (
    BucketRule,
    Criterion,
    DealOutcome,
    DefinitionProblem,
    Option,
    Phase,
    PriorityBuckets,
    ProcessDefinition,
    RequiredInfo,
    SelectField,
    Stage,
    Transition,
)
from .facts import FACTS
from .loader import (
    ProcessDefinitionError,
    default_process_definition,
    load_process_definition,
    parse_process_definition,
)

__all__ = [
    "FACTS",
    "BucketRule",
    "Criterion",
    "DealOutcome",
    "DefinitionProblem",
    "Option",
    "Phase",
    "PriorityBuckets",
    "ProcessDefinition",
    "ProcessDefinitionError",
    "RequiredInfo",
    "SelectField",
    "Stage",
    "Transition",
    "default_process_definition",
    "load_process_definition",
    "parse_process_definition",
]
