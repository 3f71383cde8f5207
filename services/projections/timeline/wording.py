"""The wording of the timeline's one-liners: labels of fixed values and the pieces a summary is made of.

Phase, stage, outcome and select-option ids are shown with the process definition's
labels; an id the definition no longer knows (an event recorded under an older
process) is shown as it is, so replaying old history never fails. Free text written
by people (summaries, notes, titles) stays in the language it was written in.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from shared import events as ev
from shared.process import ProcessDefinition

Summary = tuple[str, str]

MAX_TEXT = 60  # characters of free text kept in a one-liner

# Labels of values fixed by the event schemas (not configurable): (ja, en).
CHANNELS = {
    "email": ("メール", "Email"), "phone": ("電話", "Phone"), "visit": ("訪問", "Visit"),
    "online_meeting": ("オンライン商談", "Online meeting"), "web_form": ("Webフォーム", "Web form"),
    "event": ("イベント", "Event"), "chat": ("チャット", "Chat"), "letter": ("郵送", "Letter"),
    "other": ("その他", "Other"),
}
DIRECTIONS = {"inbound": ("受信", "inbound"), "outbound": ("発信", "outbound")}
LEAD_SOURCES = {
    "trade_show": ("展示会", "Trade show"), "web": ("Web", "Web"), "referral": ("紹介", "Referral"),
    "outbound": ("アウトバウンド", "Outbound"), "partner": ("パートナー", "Partner"),
    "seminar": ("セミナー", "Seminar"), "other": ("その他", "Other"),
}
PLACES = {"online": ("オンライン", "online"), "visit": ("訪問", "visit"), "our_office": ("来社", "at our office"),
          "other": ("その他", "other")}
OPEN_POINTS = {"amount": ("金額", "amount"), "delivery": ("納期", "delivery"),
               "payment_terms": ("支払条件", "payment terms"), "scope": ("提供範囲", "scope"),
               "other": ("その他", "other")}
HEARING_ITEMS = {"issue": ("課題", "issue"), "reason": ("導入理由", "reason"),
                 "decision_maker": ("決裁者", "decision maker"), "budget": ("予算", "budget"),
                 "timeline": ("導入時期", "timeline")}
SURVEY_METHODS = {"survey": ("アンケート", "survey"), "interview": ("インタビュー", "interview"),
                  "other": ("その他", "other")}
PRIORITIES = {"low": ("低", "low"), "normal": ("通常", "normal"), "high": ("高", "high"), "urgent": ("緊急", "urgent")}
TICKET_STATUSES = {"open": ("未対応", "open"), "in_progress": ("対応中", "in progress"),
                   "waiting_customer": ("顧客回答待ち", "waiting for the customer")}
CONTACT_FIELDS = {"name": ("氏名", "name"), "title": ("役職", "title"), "email": ("メール", "email"),
                  "phone": ("電話", "phone")}
ERASURE_REASONS = {"request": ("本人の請求", "at the person's request"), "retention": ("保存期間の経過", "retention period over")}
FEEDBACK_KINDS = {"usage": ("利用状況", "Usage"), "trouble": ("トラブル", "Trouble"), "request": ("要望", "Request"),
                   "upsell_hint": ("アップセルの兆し", "Upsell hint"), "other": ("その他", "Other")}


# --- building blocks ------------------------------------------------------------------
def short(text: str, limit: int = MAX_TEXT) -> str:
    """The first line of a free text, cut to ``limit`` characters."""
    line = text.strip().split("\n", 1)[0].strip()
    return line if len(line) <= limit else line[: limit - 1] + "…"


def fixed(labels: dict[str, Summary], value: str) -> Summary:
    return labels.get(value, (value, value))


# Labels per process definition, worked out once: (the process, {id or (phase, stage): (ja, en)}), by id().
# A definition's lookups go through pydantic's private attributes, a Python call each; the timeline asks
# for the same few dozen labels on every event that names a phase or stage.
_LABELS: dict[int, tuple[ProcessDefinition, dict[Any, Summary]]] = {}


def _labels(process: ProcessDefinition) -> dict[Any, Summary]:
    known = _LABELS.get(id(process))
    if known is None or known[0] is not process:  # an id reused by a new definition: start again
        known = _LABELS[id(process)] = (process, {})
    return known[1]


def label(process: ProcessDefinition, item_id: str) -> Summary:
    """Labels of a phase, stage or outcome; the id itself if the process no longer has it."""
    labels = _labels(process)
    found = labels.get(item_id)
    if found is None:
        try:
            found = process.label(item_id), process.label_en(item_id)
        except KeyError:
            found = item_id, item_id
        labels[item_id] = found
    return found


def phase_stage(process: ProcessDefinition, phase: str, stage: str) -> Summary:
    labels = _labels(process)
    found = labels.get((phase, stage))
    if found is None:
        (pj, pe), (sj, se) = label(process, phase), label(process, stage)
        found = labels[(phase, stage)] = f"{pj}/{sj}", f"{pe}/{se}"
    return found


def option(process: ProcessDefinition, field_id: str, choice: str) -> Summary:
    labels = _labels(process)
    known = labels.get((field_id, choice, "option"))
    if known is not None:
        return known
    try:
        found = next((o for o in process.select_field(field_id).options if o.id == choice), None)
    except KeyError:
        found = None
    known = labels[(field_id, choice, "option")] = (found.label, found.label_en) if found else (choice, choice)
    return known


def field_label(process: ProcessDefinition, field_id: str, ja: str, en: str) -> Summary:
    try:
        field = process.select_field(field_id)
    except KeyError:
        return ja, en
    return field.label, field.label_en


def selection(process: ProcessDefinition, field_id: str, chosen: ev.Selection) -> Summary:
    """「検討中（価格重視）」 / "Considering (価格重視)": the option's label plus its note."""
    ja, en = option(process, field_id, chosen.choice)
    return with_detail((ja, en), chosen.note)


def with_detail(summary: Summary, detail: str | None) -> Summary:
    """Append a short free-text detail in brackets, if there is one."""
    if not detail or not detail.strip():
        return summary
    text = short(detail)
    return f"{summary[0]}（{text}）", f"{summary[1]} ({text})"


def titled(head: Summary, text: str | None) -> Summary:
    """「見出し: 本文」 / "Head: text", or only the head without a text."""
    if not text or not text.strip():
        return head
    body = short(text)
    return f"{head[0]}: {body}", f"{head[1]}: {body}"


def joined(pairs: Iterable[Summary]) -> Summary:
    pairs = list(pairs)
    return "、".join(p[0] for p in pairs), ", ".join(p[1] for p in pairs)


def yen(amount: int) -> Summary:
    return f"{amount:,}円", f"¥{amount:,}"


def when(moment: datetime) -> str:
    """A date and time as written by the emitting app (in its own UTC offset)."""
    return moment.strftime("%Y-%m-%d %H:%M")
