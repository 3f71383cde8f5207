"""One spreadsheet row -> one command ``Envelope``, validated by the command's own pydantic model.

- customers -> ``RegisterCustomer`` under ``customer_id_for(code)``, key ``import:customers:<code>``
- contacts  -> ``AddContact`` to ``customer_id_for(customer code)``,
               key ``import:contacts:<customer code>:<e-mail, else name>``
- deals     -> ``ImportDeal`` (its stage, the earlier stages dated under ``stage_dates``, and how
               it ended: won / lost with close date, reason and note; nothing fabricated),
               key ``import:deals:<deal number>``

The row's owner, team and site (where the file gives them) are the actor of its events; lookup
files (``lookups.py``) add columns to the row first; a row without a customer code is refused,
skipped or given to the placeholder customer, as ``missing_customer`` says.

Cells are tidied before validation, never guessed at: codes are NFKC-normalised (full-width
``Ｃ００１`` is ``C001``) and stripped; amounts may carry ``¥``, ``円`` and thousands separators;
dates are read with the mapping's ``date_format`` first, then as ``2025/03/31``, ``2025-03-31``
or ``2025年3月31日`` (Excel dates are used as they are), and a date in none of them is refused
naming them all; times without an offset are in the mapping's timezone; yes/no cells accept
○ / はい / true / 1 and × / いいえ / false / 0. Anything else goes to the model as written, so
the refusal is the model's own (``amount (金額): Input should be a valid integer ...``), with the
same limits as an API call (``shared.events.limits``: no control characters, maximum lengths,
dates from 1900 up to 2100); a code holds at most 100 characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any

from pydantic import ValidationError

from services.importer import ImportSetupError, customer_id_for
from services.importer.lookups import LookupMiss, LookupTable
from services.importer.mapping import Mapping
from shared.application import Envelope
from shared.commands import AddContact, Command, ImportDeal, RegisterCustomer
from shared.domain.customer import IMPORT_DEFAULT_REASON, WON_PHASE
from shared.events import Actor
from shared.events.limits import LISTED_PROBLEMS, Limit, message, problems
from shared.process import ProcessDefinition

TRUE = {"1", "true", "yes", "y", "はい", "○", "◯", "〇", "●", "✓", "✔", "有", "あり", "済"}
FALSE = {"0", "false", "no", "n", "いいえ", "×", "✕", "無", "なし", "-", "ー", "―"}
_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
                   r"(?:[\sT]+(\d{1,2}):(\d{2})(?::(\d{2}))?)?$")
_INT = re.compile(r"^-?\d+(?:\.0*)?$")
BUILT_IN_FORMATS = ("YYYY-MM-DD", "YYYY/MM/DD", "YYYY年M月D日", "ISO 8601 with a time", "an Excel date")
CODE_LIMIT = Limit(max_length=100)  # codes become ids and idempotency keys
IMPORT_SCOPE = "import"  # whose keys: the importer's, whoever runs it (a re-run by anyone appends nothing)


class RowError(ValueError):
    """A row that cannot become a command (the message names the field and the column)."""


class RowSkipped(ValueError):
    """A row the mapping says to leave out (``missing_customer: skip``), with the reason."""


@dataclass(frozen=True, slots=True)
class Prepared:
    """A row turned into an envelope, or the reason it could not be (or was left out)."""

    row: int
    key: str  # the idempotency key ("" when the row has no usable code)
    code: str  # the customer code the row belongs to
    envelope: Envelope | None = None
    error: str | None = None
    skipped: str | None = None


class RowMapper:
    def __init__(self, mapping: Mapping, process: ProcessDefinition, actor: Actor, source: str,
                 lookups: Sequence[LookupTable] = ()) -> None:
        self.mapping, self.actor, self.source, self.process = mapping, actor, source, process
        self.lookups = tuple(lookups)
        self.zone = mapping.zone
        self.stages = _names({s.id: (s.label, s.label_en) for s in process.stages()})
        won = process.phase(WON_PHASE)
        lost = process.outcomes.get("lost")
        self.outcomes = _names({"won": (won.label, won.label_en, "受注"), "open": ("商談中", "進行中"),
                                "lost": (lost.label, lost.label_en) if lost else ("失注",)})
        self.reasons = {outcome: _names({o.id: (o.label, o.label_en) for o in process.select_field(name).options})
                        for outcome, name in (("won", "win_reason"), ("lost", "lost_reason"))}
        self.stage_dates: list[tuple[str, str]] = []  # (stage id, column), in the process's order
        for name, column in mapping.stage_dates.items():
            stage = self._stage_id(name)
            if not process.has_stage(stage):
                raise ImportSetupError(f"stage_dates: unknown stage '{name}'; a stage id or its label: "
                                       f"{', '.join(s.id for s in process.stages())}")
            self.stage_dates.append((stage, column))
        self.stage_dates.sort(key=lambda item: process.stage_index(item[0]))
        self._build = {"customers": self._customer, "contacts": self._contact, "deals": self._deal}[mapping.kind]
        # per field, looked up once: its column, the file's words for it, its default and its type (a row asks
        # ~17 times; the mapping's own lookups were a tenth of an import's time)
        self._specs = {f: (mapping.columns.get(f), mapping.values.get(f), mapping.defaults.get(f), spec.type)
                       for f, spec in mapping.fields.items()}
        self._actors: dict[tuple[Any, ...], Actor | str] = {}  # (owner, team, site) -> the actor, or why not

    def prepare(self, number: int, cells: dict[str, Any]) -> Prepared:
        try:
            return self._build(number, self._joined(cells))
        except (RowError, LookupMiss) as error:
            return Prepared(number, "", "", error=str(error))
        except RowSkipped as skipped:
            return Prepared(number, "", "", skipped=str(skipped))

    def customer_code_of(self, cells: dict[str, Any]) -> str | None:
        """The customer code a row goes to, as ``prepare`` reads it (the placeholder's for a row without one where
        the mapping says so); None when it cannot be read (``prepare`` refuses or skips the row)."""
        try:
            cells = self._joined(cells)
            return self._code("code", cells) if self.mapping.kind == "customers" else self._customer_code(cells)
        except (RowError, LookupMiss, RowSkipped):
            return None

    def _joined(self, cells: dict[str, Any]) -> dict[str, Any]:
        """The row with the columns of its lookup files."""
        for lookup in self.lookups:
            cells = lookup.join(cells)
        return cells

    # --- kinds -------------------------------------------------------------------
    def _customer(self, number: int, cells: dict[str, Any]) -> Prepared:
        code = self._code("code", cells)
        key = f"import:customers:{code}"
        details = self._values(cells, "company_name", "industry", "address", "website", "employee_count")
        return self._envelope(number, key, code, RegisterCustomer, {"details": details}, cells)

    def _contact(self, number: int, cells: dict[str, Any]) -> Prepared:
        code = self._customer_code(cells)
        details = self._values(cells, "name", "title", "email", "phone", "is_decision_maker")
        who = str(details.get("email") or "").lower() or str(details.get("name") or "") or f"row {number}"
        key = f"import:contacts:{code}:{who}"
        return self._envelope(number, key, code, AddContact, {"details": details}, cells)

    def _deal(self, number: int, cells: dict[str, Any]) -> Prepared:
        key = f"import:deals:{self._code('code', cells)}"
        try:
            code = self._customer_code(cells)
        except RowError as error:
            return Prepared(number, key, "", error=str(error))
        except RowSkipped as skipped:
            return Prepared(number, key, "", skipped=str(skipped))
        deal = self._values(cells, "title", "owner", "team", "site", "amount", "expected_close")
        try:
            imported = self._history(cells)
        except RowError as error:
            return Prepared(number, key, code, error=str(error))
        return self._envelope(number, key, code, ImportDeal, {"details": {"deal": deal, "imported": imported}}, cells)

    def _history(self, cells: dict[str, Any]) -> dict[str, Any]:
        """The deal's stage, the stages it entered before it (with their dates) and how it ended."""
        process = self.process
        text = self._value("stage", cells)
        stage = self._stage_id(text) if isinstance(text, str) else text
        dated = [(s, at) for s, column in self.stage_dates
                 if (at := self._date_cell(f"stage_dates.{s}", column, cells)) is not None]
        if stage is None:
            if not dated:
                raise RowError(f"{self.label('stage')}: missing, and no stage has a date under stage_dates")
            stage = dated[-1][0]
        imported: dict[str, Any] = {"stage": stage, "source": self.source, "imported_by": self.actor.user}
        if not process.has_stage(stage):
            return imported  # the domain refuses it, naming the stages
        here = process.stage_index(stage)
        beyond = [s for s, _ in dated if process.stage_index(s) > here]
        if beyond:
            raise RowError(f"stage_dates.{beyond[0]} ({dict(self.stage_dates)[beyond[0]]}): has a date, but the "
                           f"deal's stage is '{stage}', an earlier one")
        imported["earlier_stages"] = [{"stage": s, "entered_at": at} for s, at in dated if process.stage_index(s) < here]
        entered = self._value("stage_entered_at", cells) or next((at for s, at in dated if s == stage), None)
        if entered is not None:
            imported["stage_entered_at"] = entered
        outcome = self._outcome(cells, stage)
        if outcome != "open":
            reason = self._value("close_reason", cells)
            if isinstance(reason, str):
                reason = self.reasons[outcome].get(_key(reason), reason)
            note = self._value("close_note", cells)
            close: dict[str, Any] = {"outcome": outcome, "closed_at": self._value("closed_at", cells)}
            if reason is not None or note is not None:
                close["reason"] = {"choice": reason or IMPORT_DEFAULT_REASON, "note": note or ""}
            imported["close"] = close
        return imported

    def _outcome(self, cells: dict[str, Any], stage: str) -> str:
        text = self._value("outcome", cells)
        if text is None:
            won = self.process.phase_index(self.process.phase_of(stage).id) >= self.process.phase_index(WON_PHASE)
            return "won" if won else "open"
        outcome = self.outcomes.get(_key(str(text)))
        if outcome is None:
            raise RowError(f"{self.label('outcome')}: '{text}' is not won, lost or open "
                           f"({', '.join(sorted(self.outcomes))}); map the file's words under values: outcome")
        return outcome

    def _stage_id(self, text: str) -> str:
        return self.stages.get(_key(text), text)  # unknown: the domain refuses it, naming the stages

    def _customer_code(self, cells: dict[str, Any]) -> str:
        """The row's customer code; a row without one as ``missing_customer`` says."""
        if self._raw("customer_code", cells) is not None or self.mapping.missing_customer == "refuse":
            return self._code("customer_code", cells)
        if self.mapping.missing_customer == "skip":
            raise RowSkipped(f"{self.label('customer_code')}: empty (missing_customer: skip)")
        return self.mapping.placeholder.code  # type: ignore[union-attr]

    def _actor(self, cells: dict[str, Any]) -> Actor:
        """Who did it: the row's owner, team and site where the file gives them, else the import's."""
        given = (self._value("owner", cells), self._value("team", cells), self._value("site", cells))
        actor = self._actors.get(given)  # a file names a few owners, teams and sites: each actor made once
        if actor is None:
            actor = self._actors[given] = self._new_actor(*given)
        if isinstance(actor, str):
            raise RowError(actor)
        return actor

    def _new_actor(self, owner: Any, team: Any, site: Any) -> Actor | str:
        if owner is None and team is None and site is None:
            return self.actor
        try:
            return Actor(user=self.actor.user if owner is None else owner, team=self.actor.team if team is None else team,
                         site=self.actor.site if site is None else site, department=self.actor.department)
        except ValidationError as error:
            first = error.errors()[0]
            field = {"user": "owner"}.get(str(first["loc"][0]), str(first["loc"][0]))
            return f"{self.label(field)}: {first['msg']}"

    def _envelope(self, number: int, key: str, code: str, command: type[Command], data: dict[str, Any],
                  cells: dict[str, Any]) -> Prepared:
        try:
            occurred_at = self._value("occurred_at", cells)
            actor = self._actor(cells)
        except RowError as error:
            return Prepared(number, key, code, error=str(error))
        if found := problems(occurred_at):
            return Prepared(number, key, code, error=f"{self.label('occurred_at')}: {message(found[0])}")
        try:
            model = command.model_validate(data)
        except ValidationError as error:
            return Prepared(number, key, code, error=self._explain(error))
        envelope = Envelope(command=model, customer_id=customer_id_for(code), actor=actor,
                            occurred_at=occurred_at, idempotency_key=key, idempotency_scope=IMPORT_SCOPE)
        return Prepared(number, key, code, envelope=envelope)

    # --- cells -------------------------------------------------------------------
    def label(self, field: str) -> str:
        column = self.mapping.column(field)
        return f"{field} ({column})" if column else field

    def _raw(self, field: str, cells: dict[str, Any]) -> Any:
        column, words, default, _ = self._specs[field]
        value = cells.get(column) if column else None
        if isinstance(value, str):
            value = value.strip()
        if value is None or value == "":
            value = default
        elif words is not None:
            value = words.get(_text(value), value)
            if value is None or value == "":
                value = default
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
        kind = self._specs[field][3]
        if kind == "text":
            return _text(value)
        if kind == "int":
            return _int(value)
        if kind == "bool":
            return _bool(value)
        if kind in ("date", "datetime"):
            return self._moment(field, value, kind)
        return _text(value)

    def _date_cell(self, field: str, column: str, cells: dict[str, Any]) -> datetime | None:
        value = cells.get(column)
        if isinstance(value, str):
            value = value.strip()
        if value in (None, ""):
            return None
        return self._moment(f"{field} ({column})", value, "datetime", labelled=True)

    def _moment(self, field: str, value: Any, kind: str, labelled: bool = False) -> Any:
        """A date or time cell: the mapping's date_format first, then the formats every import reads."""
        if isinstance(value, str):
            for date_format in self.mapping.date_format:
                try:
                    value = datetime.strptime(_nfkc(value), date_format)
                    break
                except ValueError:
                    continue
        moment = _date(value) if kind == "date" else _datetime(value, self.zone)
        if isinstance(moment, (date, datetime)):
            return moment
        accepted = ", ".join([*self.mapping.date_format, *BUILT_IN_FORMATS])
        hint = "" if self.mapping.date_format else "; give the file's own under date_format in the mapping"
        raise RowError(f"{field if labelled else self.label(field)}: '{value}' is not a date in an accepted "
                       f"format ({accepted}{hint})")

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


def _names(names: dict[str, tuple[str, ...]]) -> dict[str, str]:
    """Every way a file may name an id (the id, its labels; compared by ``_key``) -> the id."""
    return {_key(name): id_ for id_, labels in names.items() for name in (*labels, id_)}


def _key(text: str) -> str:
    return _nfkc(text).casefold()


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

