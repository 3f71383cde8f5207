"""One spreadsheet row -> one command ``Envelope``, validated by the command's own pydantic model.

- customers -> ``RegisterCustomer`` under ``customer_id_for(code)``, key ``import:customers:<code>``
- contacts  -> ``AddContact`` to ``customer_id_for(customer code)``,
               key ``import:contacts:<customer code>:<e-mail, else name>``
- deals     -> ``ImportDeal`` (opened directly at its current stage, nothing fabricated),
               key ``import:deals:<deal number>``

Cells are tidied before validation, never guessed at: codes are NFKC-normalised (full-width
``Ｃ００１`` is ``C001``) and stripped; amounts may carry ``¥``, ``円`` and thousands separators;
dates may be written ``2025/03/31``, ``2025-03-31`` or ``2025年3月31日`` (Excel dates are used
as they are); times without an offset are in the mapping's timezone; yes/no cells accept
○ / はい / true / 1 and × / いいえ / false / 0. Anything else goes to the model as written, so
the refusal is the model's own (``amount (金額): Input should be a valid integer ...``), with the
same limits as an API call (``shared.events.limits``: no control characters, maximum lengths,
dates from 1900 up to 2100); a code holds at most 100 characters.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pydantic import ValidationError

from services.importer import customer_id_for
from services.importer.mapping import Mapping
from shared.application import Envelope
from shared.commands import AddContact, Command, ImportDeal, RegisterCustomer
from shared.events import Actor
from shared.events.limits import LISTED_PROBLEMS, Limit, message, problems
from shared.process import ProcessDefinition

TRUE = {"1", "true", "yes", "y", "はい", "○", "◯", "〇", "●", "✓", "✔", "有", "あり", "済"}
FALSE = {"0", "false", "no", "n", "いいえ", "×", "✕", "無", "なし", "-", "ー", "―"}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:[\sT]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_INT = re.compile(r"^-?\d+(?:\.0*)?$")
CODE_LIMIT = Limit(max_length=100)  # codes become ids and idempotency keys
IMPORT_SCOPE = "import"  # whose keys: the importer's, whoever runs it (a re-run by anyone appends nothing)


class RowError(ValueError):
    """A row that cannot become a command (the message names the field and the column)."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A row turned into an envelope, or the reason it could not be."""

    row: int
    key: str  # the idempotency key ("" when the row has no usable code)
    code: str  # the customer code the row belongs to
    envelope: Envelope | None = None
    error: str | None = None


class RowMapper:
    def __init__(self, mapping: Mapping, process: ProcessDefinition, actor: Actor, source: str) -> None:
        self.mapping, self.actor, self.source = mapping, actor, source
        self.zone = mapping.zone
        self.stages: dict[str, str] = {}
        for phase in process.phases:
            for stage in phase.stages:
                for name in (stage.label_en.casefold(), _nfkc(stage.label), stage.label, stage.id):
                    self.stages[name] = stage.id
        self._build = {"customers": self._customer, "contacts": self._contact, "deals": self._deal}[mapping.kind]

    def prepare(self, number: int, cells: dict[str, Any]) -> Prepared:
        try:
            return self._build(number, cells)
        except RowError as error:
            return Prepared(number, "", "", error=str(error))

    # --- kinds -------------------------------------------------------------------
    def _customer(self, number: int, cells: dict[str, Any]) -> Prepared:
        code = self._code("code", cells)
        key = f"import:customers:{code}"
        details = self._values(cells, "company_name", "industry", "address", "website", "employee_count")
        return self._envelope(number, key, code, RegisterCustomer, {"details": details}, cells)

    def _contact(self, number: int, cells: dict[str, Any]) -> Prepared:
        code = self._code("customer_code", cells)
        details = self._values(cells, "name", "title", "email", "phone", "is_decision_maker")
        who = str(details.get("email") or "").lower() or str(details.get("name") or "") or f"row {number}"
        key = f"import:contacts:{code}:{who}"
        return self._envelope(number, key, code, AddContact, {"details": details}, cells)

    def _deal(self, number: int, cells: dict[str, Any]) -> Prepared:
        key = f"import:deals:{self._code('code', cells)}"
        try:
            code = self._code("customer_code", cells)
        except RowError as error:
            return Prepared(number, key, "", error=str(error))
        deal = self._values(cells, "title", "owner", "team", "site", "amount", "expected_close")
        imported = self._values(cells, "stage", "stage_entered_at")
        if isinstance(imported.get("stage"), str):
            text = imported["stage"]
            imported["stage"] = self.stages.get(text) or self.stages.get(_nfkc(text)) or \
                self.stages.get(text.casefold()) or text  # unknown: the domain refuses it, naming the stages
        imported["source"] = self.source
        return self._envelope(number, key, code, ImportDeal, {"details": {"deal": deal, "imported": imported}}, cells)

    def _envelope(self, number: int, key: str, code: str, command: type[Command], data: dict[str, Any],
                  cells: dict[str, Any]) -> Prepared:
        occurred_at = self._value("occurred_at", cells)
        if occurred_at is not None and not isinstance(occurred_at, datetime):
            return Prepared(number, key, code, error=f"{self.label('occurred_at')}: not a date or time: {occurred_at!r}")
        if found := problems(occurred_at):
            return Prepared(number, key, code, error=f"{self.label('occurred_at')}: {message(found[0])}")
        try:
            model = command.model_validate(data)
        except ValidationError as error:
            return Prepared(number, key, code, error=self._explain(error))
        envelope = Envelope(command=model, customer_id=customer_id_for(code), actor=self.actor,
                            occurred_at=occurred_at, idempotency_key=key, idempotency_scope=IMPORT_SCOPE)
        return Prepared(number, key, code, envelope=envelope)

    # --- cells -------------------------------------------------------------------
    def label(self, field: str) -> str:
        column = self.mapping.column(field)
        return f"{field} ({column})" if column else field

    def _raw(self, field: str, cells: dict[str, Any]) -> Any:
        column = self.mapping.column(field)
        value = cells.get(column) if column else None
        if isinstance(value, str):
            value = value.strip()
        if value not in (None, "") and field in self.mapping.values:
            value = self.mapping.values[field].get(_text(value), value)
        if value in (None, ""):
            value = self.mapping.defaults.get(field)
        return None if value == "" else value

    def _code(self, field: str, cells: dict[str, Any]) -> str:
        value = self._raw(field, cells)
        if value is None:
            raise RowError(f"{self.label(field)}: missing; every row needs one")
        code = _nfkc(_text(value))
        if found := problems(code, (), CODE_LIMIT):
            raise RowError(f"{self.label(field)}: {message(found[0])}")
        return code

    def _values(self, cells: dict[str, Any], *fields: str) -> dict[str, Any]:
        """The given fields that have a value (absent ones are left to the model's defaults)."""
        return {f: v for f in fields if (v := self._value(f, cells)) is not None}

    def _value(self, field: str, cells: dict[str, Any]) -> Any:
        value = self._raw(field, cells)
        if value is None:
            return None
        kind = self.mapping.fields[field].type
        if kind == "int":
            return _int(value)
        if kind == "bool":
            return _bool(value)
        if kind == "date":
            return _date(value)
        if kind == "datetime":
            return _datetime(value, self.zone)
        return _text(value)

    def _explain(self, error: ValidationError) -> str:
        reasons = []
        for e in error.errors()[:LISTED_PROBLEMS]:
            names = [part for part in e["loc"] if isinstance(part, str) and part in self.mapping.fields]
            field = names[-1] if names else ".".join(str(p) for p in e["loc"] if p not in ("details", "deal", "imported"))
            shown = e["input"] if not isinstance(e["input"], str) or len(e["input"]) <= 80 else e["input"][:80] + "…"
            got = f" (got {shown!r})" if e["type"] != "missing" and isinstance(e["input"], str) \
                and e["input"] not in e["msg"] else ""
            reasons.append(f"{self.label(field)}: {e['msg']}{got}")
        if error.error_count() > LISTED_PROBLEMS:
            reasons.append(f"and {error.error_count() - LISTED_PROBLEMS} more")
        return "; ".join(reasons)


def _nfkc(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime) and value.time() == time(0):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip()


def _int(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else value
    if isinstance(value, int):
        return value
    cleaned = re.sub(r"[,\s¥円]", "", _nfkc(value).replace("\\", ""))
    return int(float(cleaned)) if _INT.match(cleaned) else value


def _bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    text = _nfkc(_text(value)).casefold()
    if text in TRUE:
        return True
    if text in FALSE:
        return False
    return value


def _date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.match(_nfkc(str(value)))
    if match and match.group(4) is None:
        try:
            return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
        except ValueError:
            return value  # 2025/02/30: the model says why
    return value


def _datetime(value: Any, zone: Any) -> Any:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime.combine(value, time(0))
    else:
        text = _nfkc(str(value))
        match = _DATE.match(text)
        try:
            if match:
                y, m, d, hh, mm, ss = (int(g) if g else 0 for g in match.groups())
                moment = datetime(y, m, d, hh, mm, ss)
            else:
                moment = datetime.fromisoformat(text)
        except ValueError:
            return value
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)

