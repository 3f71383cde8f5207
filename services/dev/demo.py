"""A living demo company history, written through the command API like any client would.

About 36 Japanese companies with up to a year of history: deals in every phase and stage of
the sales process, some stuck past their stage's stagnation threshold, some without a next
action or with an overdue one, hot / warm / cold, won and lost with reasons, hand-offs to CS
with cautions, onboarding and satisfaction, support tickets worked by support and by tech,
and the HQ-and-branch case: 本社営業 (東京本社) and 大阪支店 working one company that each
registered under its own spelling (「㈱北斗精機」 and 「株式会社北斗精機」).

How it is built
    The companies' stories are data, in services/dev/demo_stories.py (``STORIES``: how far
    each deal goes, its outcome, temperature, next action, tickets; with the profiles and the
    Japanese names and texts); this module holds only the mechanics. The path of a deal, the
    facts each phase change needs and the information each stage requires are read from the
    process definition (``default_process_definition()``; the command API's ``GET /process``
    must be the same):
    ``DealRun.plan`` walks the stages up to the story's one and plans, for every fact asked
    for, the work that makes it hold (``@records``), so every stage change meets its criteria.
    Every command goes through the HTTP API with the token of whoever would do it: sales for
    deals and touchpoints (HQ or branch), CS for onboarding, satisfaction and feedback,
    support and tech for tickets.

Deterministic
    ``random.Random(seed)`` draws the company profiles; each company and deal draws its
    details from a generator seeded with ``(seed, company, deal)``, so one story never shifts
    another's. Nothing drawn depends on an answer of the API.

Idempotent
    Every command carries ``Idempotency-Key: demo-<seed>-c<company>-<place in the story>``.
    A second run sends the same requests with the same bodies; the API answers each from the
    first run (header ``Idempotent-Replayed: true``, counted in ``DemoSummary.replayed``),
    appends nothing, and gives back the ids it generated then (customer, deal, meeting,
    revision and ticket ids), which the following requests use.

Dates: anchored to the first run
    Every time is ``anchor - N days`` at a business hour (09:00-18:00 JST), with ``N >= 1``,
    so nothing happens later than the day before the anchor (never in the future, well inside
    the API's 1900-2100 window). The anchor is a JST calendar day:

    * the first run takes it from ``now`` (default: the wall clock);
    * the showcase company (the first story) is registered under a customer id derived from
      the seed; a later run reads that customer back (``GET /customers/{id}``) and takes the
      anchor from its first deal's ``opened_at`` plus the deal's planned age in days, so a
      run on any later day, or with another ``now``, sends byte-identical requests;
    * if a first run stopped between registering that company and opening its deal, the
      anchor is found by offering the registration again for each earlier day (the API
      refuses a different ``occurred_at`` under the same key with 422 until the right one).

    Due dates of next actions planned "scheduled" and meetings still to come lie after the
    anchor: they are plans, not events.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time as clock
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import httpx

from services.dev.demo_stories import (
    CAUTIONS,
    COMPLETIONS,
    CONTACT_TITLES,
    DECIDER_TITLES,
    FAMILY_NAMES,
    FIRST_TOUCH,
    GIVEN_NAMES,
    INDUSTRIES,
    LEAD_DETAILS,
    ONBOARDING,
    OTHER_TOUCH,
    PHASE_TOUCHES,
    PROFILES,
    STORIES,
    TOPICS,
    CompanyStory,
    DealStory,
    Profile,
)
from services.dev.users import DEV_USERS
from shared.company_key import company_key
from shared.domain.customer import WON_PHASE
from shared.process import ProcessDefinition, Stage, default_process_definition

DEFAULT_SEED = 2026
JST = timezone(timedelta(hours=9))
BUSINESS_MINUTES = 9 * 60  # 09:00-18:00: where the times of a day fall
MAX_DAYS = 360  # the oldest event: about a year before the anchor
WRITERS = ("sales", "sales_branch", "cs", "support", "tech")  # the DEV_USERS keys whose tokens write
TARGET_SETTER = "manager"  # the DEV_USERS key whose token sets the teams' monthly targets
# (team, owner, key part, JPY per month): targets for the 12 months up to the anchor's, so achievement shows
DEMO_TARGETS = (("本社営業1課", None, "hq1", 3_000_000), ("本社営業1課", "tanaka", "hq1-tanaka", 1_500_000),
                ("大阪支店営業課", None, "osaka", 2_000_000))
USERS = {user.key: user.actor for user in DEV_USERS}
NAMESPACE = uuid.UUID("5d4c0f1e-3b7a-4c1e-9a43-2f6b8d0e7c11")  # of the showcase company's customer id
REPLAYED_HEADER = "Idempotent-Replayed"


class DemoError(RuntimeError):
    """The demo could not be written as planned: a refused request (with its answer), or a story the
    process cannot play."""


# --- the summary -----------------------------------------------------------------------------------------
@dataclass
class DemoSummary:
    companies: int = 0  # customer records (the HQ-and-branch company counts twice: two registrations)
    deals: int = 0
    requests: int = 0  # commands sent
    replayed: int = 0  # of them answered from an earlier run
    events: int = 0  # events written by this run
    anchor: date | None = None  # the JST day the history ends before
    seconds: float = 0.0
    showcase_customer_id: str = ""
    duplicate_customer_ids: tuple[str, ...] = ()  # the registrations sharing a company key
    customer_ids: tuple[str, ...] = ()
    deal_ids: tuple[str, ...] = ()
    ticket_ids: tuple[str, ...] = ()
    stages: dict[str, int] = field(default_factory=dict)  # open or won deals per current stage
    outcomes: dict[str, int] = field(default_factory=dict)  # open / won / lost

    def describe(self) -> str:
        fresh = self.requests - self.replayed
        return (f"Demo history up to {self.anchor}: {self.companies} companies and {self.deals} deals "
                f"({self.outcomes.get('open', 0)} open, {self.outcomes.get('won', 0)} won, "
                f"{self.outcomes.get('lost', 0)} lost) in {len(self.stages)} stages; {self.requests} commands sent, "
                f"{fresh} new and {self.replayed} answered from an earlier run; {self.events} events written "
                f"in {self.seconds:.1f} s. Showcase customer {self.showcase_customer_id}; one company registered twice "
                f"by 本社 and 大阪支店: {', '.join(self.duplicate_customer_ids)}.")


# --- talking to the API ----------------------------------------------------------------------------------
class Api:
    """One keep-alive client, a token per writer, idempotency keys under the seed, counts."""

    def __init__(self, client: httpx.Client, tokens: Mapping[str, str], seed: int, summary: DemoSummary) -> None:
        missing = [key for key in WRITERS if not tokens.get(key)]
        if missing:
            raise DemoError(f"no token for {', '.join(missing)} (keys of services/dev/users.py DEV_USERS)")
        self.client, self.seed, self.summary = client, seed, summary
        self.headers = {key: {"Authorization": f"Bearer {tokens[key]}"} for key in WRITERS}
        if tokens.get(TARGET_SETTER):  # optional: without the manager's token the demo sets no targets
            self.headers[TARGET_SETTER] = {"Authorization": f"Bearer {tokens[TARGET_SETTER]}"}

    def key(self, place: str) -> str:
        if not place.isascii():
            raise DemoError(f"idempotency keys travel in a header: '{place}' must be ASCII")
        return f"demo-{self.seed}-{place}"

    def send(self, who: str, path: str, body: dict[str, Any], place: str, at: datetime) -> httpx.Response:
        return self.client.post(path, json={**body, "occurred_at": at.isoformat()},
                                headers={**self.headers[who], "Idempotency-Key": self.key(place)})

    def post(self, who: str, path: str, body: dict[str, Any], place: str, at: datetime,
             creates: str | None = None) -> dict[str, Any]:
        response = self.send(who, path, body, place, at)
        answer = self.check(response, path, place)
        self.count(response, answer)
        if creates is not None and creates not in answer.get("created", {}):
            raise DemoError(f"POST {path} ({self.key(place)}) answered without created.{creates}: {answer}")
        return answer

    def count(self, response: httpx.Response, answer: dict[str, Any]) -> None:
        self.summary.requests += 1
        if response.headers.get(REPLAYED_HEADER) == "true":
            self.summary.replayed += 1
        else:
            self.summary.events += len(answer["events"])

    def get(self, path: str) -> dict[str, Any] | None:
        response = self.client.get(path, headers=self.headers["sales"])
        return None if response.status_code == 404 else self.check(response, path, "read")

    def check(self, response: httpx.Response, path: str, place: str) -> dict[str, Any]:
        if not response.is_success:
            raise DemoError(f"{response.request.method} {path} ({self.key(place)}) answered "
                            f"{response.status_code}: {response.text}")
        return response.json()


# --- planning a deal: which work, in which order, at which time ---------------------------------------
@dataclass
class Step:
    work: str  # a DealRun method
    arg: Any = None
    at: datetime | None = None


REPEATED = {"onboarding_progress_recorded"}  # progress: recorded again at every stage that requires it
COMPANY_FACTS = {"company_info_captured", "contact_person_captured"}  # recorded with the registration
FACT_WORK: dict[str, str] = {}  # fact -> the DealRun method whose request makes it hold


def records(*facts: str, needs: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Mark a DealRun method as the work that makes ``facts`` hold; ``needs``: facts that must hold first."""

    def mark(method: Callable) -> Callable:
        method.needs = needs
        method.facts = facts
        FACT_WORK.update(dict.fromkeys(facts, method.__name__))
        return method

    return mark


@dataclass
class Segment:
    """The steps from one stage's entry (days ago, its first step) until ``end`` days ago."""

    start: int
    end: int
    steps: list[Step] = field(default_factory=list)
    stage: Stage | None = None


class Planner:
    """The steps that walk one deal from its opening to the stage of its story, each criterion met first."""

    def __init__(self, process: ProcessDefinition, story: DealStory, rng: random.Random) -> None:
        self.process, self.story, self.rng = process, story, rng
        target = process.stage(story.reach)
        self.path = process.stages()[:process.stage_index(target.id) + 1]
        self.done = set(COMPANY_FACTS)
        self.won = process.phase_index(process.phase_of(target.id).id) >= process.phase_index(WON_PHASE)
        self._check()

    def _check(self) -> None:
        s, process = self.story, self.process
        if self.won != bool(s.won) or (s.lost is not None and self.won):
            raise DemoError(f"deal story at {s.reach}: win reasons exactly when it reached {WON_PHASE}, and no loss")
        for reason in s.won:
            _option(process, "win_reason", reason)
        if s.lost is not None:
            _option(process, process.outcomes["lost"].reason_field or "lost_reason", s.lost)
        if (s.tickets or s.feedback) and not self._after_handoff():
            raise DemoError(f"deal story at {s.reach}: tickets and feedback need a deal past {WON_PHASE}")

    def _after_handoff(self) -> list[Stage]:
        won = self.process.phase_index(WON_PHASE)
        return [stage for stage in self.path if self.process.phase_index(self.process.phase_of(stage.id).id) > won]

    def days(self) -> tuple[list[int], int | None]:
        """Days ago each stage of the path was entered (strictly decreasing), and the day it was lost."""
        s, rng = self.story, self.rng
        threshold = self.path[-1].stagnation_days
        lost = s.lost_days_ago if s.lost is not None else None
        if lost is not None:
            entered = lost + rng.randint(3, 10)
        elif s.entered is not None:
            entered = s.entered
        elif s.stuck:
            entered = threshold + 2 + rng.randint(0, threshold)
        else:
            entered = max(2, rng.randint(threshold // 5, threshold // 2))
        stays = [rng.randint(3, 9) for _ in self.path[1:]]
        opened = s.opened if s.opened is not None else min(MAX_DAYS - 10, entered + sum(stays))
        if stays and opened - entered != sum(stays):  # stretch or squeeze the stays to fit
            room = opened - entered
            stays = [max(1, room * (i + 1) // len(stays) - room * i // len(stays)) for i in range(len(stays))]
        entries = [opened]
        for stay in stays:
            entries.append(entries[-1] - stay)
        if entries[-1] != entered or entered <= (lost or 0) or any(a <= b for a, b in zip(entries, entries[1:])):
            raise DemoError(f"deal story at {s.reach}: {len(self.path)} stages do not fit between {opened} and "
                            f"{entered} days ago")
        return entries, lost

    def segments(self) -> list[Segment]:
        entries, lost = self.days()
        ends = entries[1:] + [lost if lost is not None else 0]
        segments = [Segment(start, end, stage=stage) for stage, start, end in zip(self.path, entries, ends)]
        for i, (stage, segment) in enumerate(zip(self.path, segments)):
            self._steps = segment.steps  # where the steps planned now go
            self._enter(i, stage)
            final = i == len(self.path) - 1
            if final and self.story.lost is None and not self.won:
                self._current()
            for fact in (info.fact for info in self.process.required_for(stage.id)):
                if fact == "next_action_set" and final:
                    continue  # the story's own next action (_current)
                self.plan(fact, skip=final and self.story.gaps, again=fact in REPEATED)
            if not final:
                self._prepare(stage, self.path[i + 1])
        self._after_sales(segments)
        if lost is not None:
            segments.append(Segment(lost, lost - 1, [Step("temperature", "cold"), *self._close_next_action("lost"),
                                                     Step("lose")]))
        return segments

    def _enter(self, i: int, stage: Stage) -> None:
        """Opening the deal, or moving it into ``stage`` (the won phase is entered by winning)."""
        phase = self.process.phase_of(stage.id)
        if i == 0:
            self._steps.append(Step("open_deal"))
            return
        previous = self.process.phase_of(self.path[i - 1].id)
        if phase.id == WON_PHASE and previous.id != WON_PHASE:
            self._steps.append(Step("win"))
            self.done.add("win_reasons_recorded")
        else:
            self._steps.append(Step("change_stage", stage.id))
        if phase.id != previous.id:
            self._steps.append(Step("touch", phase.id))

    def _prepare(self, stage: Stage, following: Stage) -> None:
        """Before a phase change: the facts its criteria ask for (all of all_of, the first of any_of)."""
        here, there = self.process.phase_of(stage.id).id, self.process.phase_of(following.id).id
        transition = self.process.transition(here, there) if here != there else None
        for criterion in transition.criteria if transition else ():
            for fact in criterion.all_of or criterion.any_of[:1]:
                self.plan(fact)
        if there == WON_PHASE and here != WON_PHASE:
            self._steps += [Step("temperature", "hot"), *self._close_next_action("won")]

    def _close_next_action(self, why: str) -> list[Step]:
        """Completing the open next action, if one is open."""
        if "next_action_set" not in self.done:
            return []
        self.done.discard("next_action_set")
        return [Step("complete_next_action", why)]

    def _current(self) -> None:
        """An open deal's temperature and next action, as the story says."""
        self._steps.append(Step("temperature", self.story.temperature))
        mode = self.story.next_action
        if mode == "none":
            self._steps += self._close_next_action("none")
        elif mode in ("scheduled", "overdue", "undecided"):
            self._steps.append(Step("next_action", mode))
        else:
            raise DemoError(f"deal story at {self.story.reach}: unknown next action '{mode}'")

    def _after_sales(self, segments: list[Segment]) -> None:
        """Tickets and feedback spread over the stages after the hand-off; tickets still open in the last."""
        after = [seg for seg in segments if seg.stage in self._after_handoff()]
        for i, ticket in enumerate(self.story.tickets):
            steps = after[-1 if ticket.status != "resolved" else i % len(after)].steps
            steps.append(Step("open_ticket", i))
            if ticket.status != "open":
                steps.append(Step("update_ticket", i))
            if ticket.status == "resolved":
                steps.append(Step("resolve_ticket", i))
        for i in range(len(self.story.feedback)):
            after[i % len(after)].steps.append(Step("feedback", i))

    def plan(self, fact: str, skip: bool = False, again: bool = False) -> None:
        """The work making ``fact`` hold (and the facts it needs first); ``skip``: only what it needs."""
        if fact in self.done and not again:
            return
        name = FACT_WORK.get(fact)
        if name is None:
            raise DemoError(f"the demo cannot record the fact '{fact}' its process asks for")
        work = getattr(DealRun, name)
        for need in work.needs:
            self.plan(need)
        if not skip:
            self._steps.append(Step(name))
            self.done.update(work.facts)


def _option(process: ProcessDefinition, field_id: str, option: str) -> None:
    if not process.select_field(field_id).has(option):
        raise DemoError(f"'{option}' is not an option of {field_id} in the process definition")


def spread(segments: Sequence[Segment], anchor: date) -> list[Step]:
    """Give each step its time: a segment's steps evenly over its business hours, the first at its start."""
    timed = []
    for segment in segments:
        span = (segment.start - segment.end) * BUSINESS_MINUTES
        for k, step in enumerate(segment.steps):
            offset = k * span // len(segment.steps)
            step.at = moment(anchor, segment.start - offset // BUSINESS_MINUTES, offset % BUSINESS_MINUTES)
            timed.append(step)
    return timed


def moment(anchor: date, days_ago: int, minutes: int = 0) -> datetime:
    """09:00 JST plus ``minutes`` on the day ``days_ago`` before the anchor."""
    return datetime.combine(anchor - timedelta(days=days_ago), time(9), JST) + timedelta(minutes=minutes)


# --- playing a company's story through the API -----------------------------------------------------------
@dataclass
class Company:
    index: int
    story: CompanyStory
    profile: Profile
    rng: random.Random
    customer_id: str = ""
    contacts: list[dict[str, Any]] = field(default_factory=list)
    registered_days_ago: int = 0

    @property
    def place(self) -> str:
        return f"c{self.index:02d}"

    def registration(self) -> dict[str, Any]:
        p = self.profile
        return {"company_name": p.name, "industry": p.industry, "address": p.address,
                "website": f"https://www.{p.domain}", "employee_count": p.employees}


class DealRun:
    """One deal of a company: its planned steps, played in order; each work method sends one command."""

    def __init__(self, api: Api, process: ProcessDefinition, company: Company, index: int, story: DealStory,
                 seed: int) -> None:
        self.api, self.process, self.company, self.index, self.story = api, process, company, index, story
        self.rng = random.Random(f"{seed}:{company.index}:{index}")
        self.segments = Planner(process, story, self.rng).segments()
        self.opened_days_ago = self.segments[0].start
        industry = INDUSTRIES[company.profile.industry]
        self.title = story.title or industry.titles[index % len(industry.titles)]
        self.industry = industry
        self.amount = self.rng.randrange(12, 300) * 100_000
        self.ids: dict[str, str] = {}
        self.sales = company.story.by
        self.onboarding_steps = iter(ONBOARDING)
        self.steps: list[Step] = []
        self.position = 0

    # the playing
    def play(self, anchor: date) -> None:
        self.anchor = anchor
        self.steps = spread(self.segments, anchor)
        for self.position, step in enumerate(self.steps):
            method = getattr(self, step.work)
            method(step.at) if step.arg is None else method(step.at, step.arg)

    def later(self, work: str) -> datetime | None:
        """When a later step of this deal does ``work``, if one does."""
        return next((s.at for s in self.steps[self.position + 1:] if s.work == work), None)

    def send(self, who: str, path: str, body: dict[str, Any], at: datetime, creates: str | None = None) -> None:
        step = self.steps[self.position]
        place = f"{self.company.place}-d{self.index}-{self.position:02d}-{step.work}"
        if step.arg is not None:
            place += f"-{step.arg}"
        base = f"/customers/{self.company.customer_id}"
        answer = self.api.post(who, base + path.format(**self.ids), body, place, at, creates)
        if creates is not None:
            self.ids[creates if creates != "ticket_id" else f"ticket{step.arg}"] = answer["created"][creates]

    def deal(self, path: str, body: dict[str, Any], at: datetime, creates: str | None = None) -> None:
        self.send(self.sales, "/deals/{deal_id}" + path, body, at, creates)

    def contact(self, decision_maker: bool = False) -> dict[str, Any]:
        return self.company.contacts[1 if decision_maker else 0]

    # the steps of the walk
    def open_deal(self, at: datetime) -> None:
        body = {"title": self.title, "owner": USERS[self.sales].user, "amount": self.amount,
                "expected_close": (at + timedelta(days=self.rng.randint(90, 180))).date().isoformat()}
        self.send(self.sales, "/deals", body, at, creates="deal_id")

    def change_stage(self, at: datetime, stage_id: str) -> None:
        self.deal("/stage", {"to_stage": stage_id}, at)

    def touch(self, at: datetime, phase_id: str) -> None:
        channel, direction, summary = self.rng.choice(PHASE_TOUCHES.get(phase_id, OTHER_TOUCH))
        self.send(self.sales, "/touchpoints", {"deal_id": self.ids["deal_id"], "channel": channel,
                                                "direction": direction, "summary": summary}, at)

    def win(self, at: datetime) -> None:
        reasons = [{"choice": r, "note": self.story.note if i == 0 else ""} for i, r in enumerate(self.story.won)]
        self.deal("/win", {"win_reasons": reasons, "note": self.story.note}, at)

    def lose(self, at: datetime) -> None:
        self.deal("/loss", {"reason": {"choice": self.story.lost, "note": self.story.note}}, at)

    def temperature(self, at: datetime, bucket: str) -> None:
        temperature, status = temperature_for(self.process, bucket, self.rng)
        body: dict[str, Any] = {"temperature": {"choice": temperature}}
        if status is not None:
            body["decision_status"] = {"choice": status}
        self.deal("/temperature", body, at)

    def next_action(self, at: datetime, mode: str) -> None:
        if mode == "undecided":
            body: dict[str, Any] = {"plan": {"choice": "undecided", "note": "先方の社内検討待ちのため未定"}}
        else:
            today = datetime.combine(self.anchor, time(0), JST)
            due = (at + (today - at) / 2 if mode == "overdue"
                   else moment(self.anchor, -self.rng.randint(3, 14), 60))
            body = {"plan": {"choice": "scheduled", "note": self.rng.choice(
                ("次回打ち合わせの日程調整", "見積の再提示", "稟議資料の作成支援", "デモ環境の案内"))},
                "due_at": due.isoformat()}
        self.deal("/next-action", body, at)

    def complete_next_action(self, at: datetime, why: str) -> None:
        self.deal("/next-action/completion", {"outcome": COMPLETIONS[why]}, at)

    # the work that makes each fact hold
    @records("lead_source_recorded")
    def lead_source(self, at: datetime) -> None:
        source = self.company.story.lead
        self.send(self.sales, "/lead-sources", {"source": source, "detail": LEAD_DETAILS[source],
                                                 "deal_id": self.ids["deal_id"]}, at)

    @records("first_contact_recorded", "initial_reaction_recorded")
    def first_touch(self, at: datetime) -> None:
        channel, direction, summary = FIRST_TOUCH[self.company.story.lead]
        reaction = self.rng.choice(("positive", "considering", "considering", "cautious"))
        self.send(self.sales, "/touchpoints", {
            "deal_id": self.ids["deal_id"], "channel": channel, "direction": direction, "summary": summary,
            "reaction": {"choice": reaction, "note": "導入事例に関心"}, "topics_of_interest": self.rng.sample(TOPICS, 2)},
            at)

    @records("hearing_started", "hearing_issue")
    def first_hearing(self, at: datetime) -> None:
        self.deal("/hearings", {"issue": self.industry.issue, "notes": "初回ヒアリング。現状の業務を伺った",
                                "bant": {"need": "partial"}}, at)

    @records("hearing_reason", "hearing_decision_maker", "hearing_budget", "hearing_timeline",
             "competitor_recorded", "hurdle_recorded")
    def full_hearing(self, at: datetime) -> None:
        decider = self.contact(decision_maker=True)
        start = at + timedelta(days=self.rng.randint(120, 240))
        self.deal("/hearings", {
            "reason": self.industry.reason, "decision_maker": f"{decider['name']} ({decider['title']})",
            "budget": f"年間{self.amount // 10_000:,}万円程度", "timeline": f"{start.year}年{start.month}月の稼働を希望",
            "bant": {"budget": "partial", "authority": "confirmed", "need": "confirmed", "timeline": "partial"},
            "competitor": {"choice": self.rng.choice(("yes", "no")), "note": "既存ベンダーとの比較"},
            "hurdle": {"choice": self.rng.choice(("approval", "adoption_risk", "price", "unknown"))},
            "notes": "課題・導入理由・決裁者・予算・導入時期を確認"}, at)

    @records("bant_confirmed")
    def bant_hearing(self, at: datetime) -> None:
        self.deal("/hearings", {"bant": dict.fromkeys(("budget", "authority", "need", "timeline"), "confirmed"),
                                "notes": "予算枠と稼働時期を決裁者に確認いただいた"}, at)

    @records("meeting_scheduled")
    def schedule_meeting(self, at: datetime) -> None:
        when = self.later("hold_meeting") or moment(self.anchor, -self.rng.randint(2, 10), 300)
        ours, theirs = USERS[self.sales].user, self.contact()["name"]
        self.deal("/meetings", {"scheduled_at": when.isoformat(), "place": self.rng.choice(("visit", "online")),
                                "purpose": "課題の深掘りとデモ", "agenda": "1. 現状業務の確認 2. デモ 3. 導入の進め方",
                                "attendees_ours": [ours], "attendees_theirs": [theirs]}, at, creates="meeting_id")

    @records("meeting_held", needs=("meeting_scheduled",))
    def hold_meeting(self, at: datetime) -> None:
        self.deal("/meetings/{meeting_id}/held", {"minutes": "デモを実施。入力画面の簡単さに好反応。"
                                                             "次回までに概算見積を提示"}, at)

    @records("proposal_sent")
    def send_proposal(self, at: datetime) -> None:
        self.deal("/proposals", {"title": f"{self.title} ご提案書", "problem": self.industry.issue,
                                 "summary": "段階導入で初年度は本社部門から開始する案"}, at, creates="proposal_id")

    @records("quote_submitted")
    def submit_quote(self, at: datetime) -> None:
        self.deal("/quotes", {"amount": self.amount, "valid_until": (at + timedelta(days=30)).date().isoformat(),
                              "note": "初期費用と年額利用料"}, at)

    @records("proposal_feedback_recorded")
    def proposal_feedback(self, at: datetime) -> None:
        body = {"reaction": {"choice": self.rng.choice(("positive", "considering"))},
                "questions": "他社での定着までの期間は", "concerns": "現場への展開負荷"}
        if "proposal_id" in self.ids:
            body["proposal_id"] = self.ids["proposal_id"]
        self.deal("/proposal-feedback", body, at)

    @records("revision_requested")  # the demo's own: a stage that asks for revisions handled has one
    def request_revision(self, at: datetime) -> None:
        body = {"request": "料金を月額表記にし、段階導入のスケジュールを追加してほしい"}
        if "proposal_id" in self.ids:
            body["proposal_id"] = self.ids["proposal_id"]
        self.deal("/revisions", body, at, creates="revision_id")

    @records("revisions_resolved", needs=("revision_requested",))
    def complete_revision(self, at: datetime) -> None:
        self.deal("/revisions/{revision_id}/done", {"response": "月額表記と3段階の導入計画を追記して再送"}, at)

    @records("approval_status_recorded")
    def approval(self, at: datetime) -> None:
        decider = self.contact(decision_maker=True)
        self.deal("/approval", {"status": {"choice": "in_review"}, "stuck_at": "経理部長の確認待ち",
                                "people_involved": [self.contact()["name"], decider["name"]]}, at)

    @records("terms_negotiation_started")
    def open_terms(self, at: datetime) -> None:
        self.deal("/contract-terms", {"open_points": ["amount", "payment_terms"],
                                      "note": "年額一括払いか四半期払いかを調整"}, at)

    @records("next_action_set")
    def plan_next_action(self, at: datetime) -> None:
        self.deal("/next-action", {"plan": {"choice": "scheduled", "note": "稟議資料の作成支援"},
                                   "due_at": (at + timedelta(days=7)).isoformat()}, at)

    @records("terms_agreed", needs=("terms_negotiation_started",))
    def agree_terms(self, at: datetime) -> None:
        self.deal("/contract-terms", {"agreed": True, "note": "四半期払い、初年度は5%値引きで合意"}, at)

    @records("contract_signed")
    def sign_contract(self, at: datetime) -> None:
        start = (at + timedelta(days=30)).date()
        self.deal("/contract", {"price": self.amount * 95 // 100, "scope": f"{self.title} (初年度は本社部門)",
                                "term_start": start.isoformat(),
                                "term_end": (start + timedelta(days=364)).isoformat(),
                                "conditions": "年額利用料・四半期払い・自動更新"}, at)

    @records("handed_off_to_cs")
    def hand_off(self, at: datetime) -> None:
        first = self.later("onboarding") or at + timedelta(days=3)
        self.deal("/handoff", {"goal": "3か月で対象部署の利用率80%", "cautions": self.rng.choice(CAUTIONS),
                               "expectations": "月次の定例会で利用状況を報告してほしい",
                               "cs_owner": USERS["cs"].user, "first_response_at": first.isoformat()}, at)

    @records("onboarding_progress_recorded")
    def onboarding(self, at: datetime) -> None:
        percent, status = next(self.onboarding_steps, ONBOARDING[-1])
        self.send("cs", "/onboarding-progress", {"deal_id": self.ids["deal_id"], "progress_percent": percent,
                                                  "status": status, "support_contacts_communicated": True}, at)

    @records("satisfaction_recorded")
    def satisfaction(self, at: datetime) -> None:
        self.send("cs", "/satisfaction", {"deal_id": self.ids["deal_id"], "score": self.story.satisfaction,
                                           "method": "interview", "comment": "導入時の支援は満足。レポート機能に要望あり"}, at)

    @records("temperature_set")
    def temperature_work(self, at: datetime) -> None:
        self.temperature(at, self.story.temperature)

    # after the hand-off
    def open_ticket(self, at: datetime, i: int) -> None:
        t = self.story.tickets[i]
        self.send(t.opened_by, "/tickets", {"title": t.title, "description": t.description, "priority": t.priority,
                                            "category": t.category, "deal_id": self.ids["deal_id"]}, at,
                  creates="ticket_id")

    def update_ticket(self, at: datetime, i: int) -> None:
        t = self.story.tickets[i]
        status = t.status if t.status in ("in_progress", "waiting_customer") else "in_progress"
        self.send(t.worked_by, f"/tickets/{{ticket{i}}}/updates", {"status": status, "note": t.note}, at)

    def resolve_ticket(self, at: datetime, i: int) -> None:
        t = self.story.tickets[i]
        self.send(t.worked_by, f"/tickets/{{ticket{i}}}/resolution", {"resolution": t.resolution}, at)

    def feedback(self, at: datetime, i: int) -> None:
        f = self.story.feedback[i]
        self.send(f.by, "/feedback", {"deal_id": self.ids["deal_id"], "kind": f.kind, "summary": f.summary,
                                       "detail": f.detail}, at)


def temperature_for(process: ProcessDefinition, bucket: str, rng: random.Random) -> tuple[str, str | None]:
    """A temperature and decision status the process puts in ``bucket`` (hot / warm / cold)."""
    temperatures = [o.id for o in process.select_field("temperature").options]
    statuses = [o.id for o in process.select_field("decision_status").options]
    pairs = [(t, s) for t in temperatures for s in statuses if process.bucket(t, s) == bucket]
    if not pairs:
        raise DemoError(f"no temperature and decision status of the process make a deal '{bucket}'")
    return rng.choice(pairs)


# --- the whole demo --------------------------------------------------------------------------------------
def companies(seed: int) -> list[Company]:
    """The stories with their profiles: drawn with the seed where a story names none."""
    rng = random.Random(seed)
    drawn = iter(rng.sample(PROFILES, sum(1 for s in STORIES if s.profile is None)))
    return [Company(i, story, story.profile or next(drawn), random.Random(f"{seed}:{i}"))
            for i, story in enumerate(STORIES)]


def showcase_customer_id(seed: int) -> str:
    """The showcase company's customer id: chosen by the demo, so a later run can read the anchor back."""
    return str(uuid.uuid5(NAMESPACE, f"demo-{seed}-showcase"))


def write_demo(client: httpx.Client, tokens: Mapping[str, str], seed: int = DEFAULT_SEED,
               now: datetime | None = None, process: ProcessDefinition | None = None) -> DemoSummary:
    """Write the demo history through the command API at ``client``'s base URL; a second run adds nothing.

    ``tokens``: bearer tokens keyed like services/dev/users.py DEV_USERS (sales, sales_branch, cs,
    support, tech are used; manager, where given, sets the teams' monthly targets). ``now``: where a first run ends the history (default: the wall clock);
    a later run keeps the first run's dates whatever ``now`` is. Raises DemoError on any refusal.
    """
    started = clock.monotonic()
    process = process or default_process_definition()
    summary = DemoSummary()
    api = Api(client, tokens, seed, summary)
    _same_process(api, process)
    plan = companies(seed)
    runs = [[DealRun(api, process, company, j, story, seed) for j, story in enumerate(company.story.deals)]
            for company in plan]
    for company, deals in zip(plan, runs):
        company.registered_days_ago = min(MAX_DAYS, max(d.opened_days_ago for d in deals) + company.rng.randint(1, 5))
        company.contacts = _contacts(company)
    plan[0].customer_id = showcase_customer_id(seed)
    anchor = _anchor(api, plan[0], runs[0][0], now)
    for company, deals in zip(plan, runs):
        _register(api, company, anchor)
        for run in deals:
            run.play(anchor)
    _set_targets(api, anchor)
    _summarize(summary, process, plan, runs, anchor)
    summary.seconds = clock.monotonic() - started
    return summary


def _same_process(api: Api, process: ProcessDefinition) -> None:
    served = api.check(api.client.get("/process"), "/process", "read")
    if served != process.model_dump(mode="json"):
        raise DemoError(f"the command API runs the process '{served.get('name')}', not the one given to the demo "
                        f"('{process.name}'); pass write_demo(process=...) the server's definition")


def _set_targets(api: Api, anchor: date) -> None:
    """The teams' (and tanaka's) targets for the 12 months up to the anchor's, set by the manager on the anchor's
    eve (nothing without the manager's token)."""
    if TARGET_SETTER not in api.headers:
        return
    for back in range(11, -1, -1):
        year, month = divmod(anchor.year * 12 + anchor.month - 1 - back, 12)
        text = f"{year:04d}-{month + 1:02d}"
        for team, owner, code, amount in DEMO_TARGETS:
            api.post(TARGET_SETTER, "/targets", {"team": team, "owner": owner, "month": text, "amount": amount},
                     f"target-{code}-{text}", moment(anchor, 1))


def _contacts(company: Company) -> list[dict[str, Any]]:
    rng, domain = company.rng, company.profile.domain
    (family, romaji), (family2, romaji2) = rng.sample(FAMILY_NAMES, 2)
    phone = f"0{rng.randint(3, 99)}-{rng.randint(100, 9999):04d}-{rng.randint(0, 9999):04d}"
    return [{"name": f"{family} {rng.choice(GIVEN_NAMES)}", "title": rng.choice(CONTACT_TITLES),
             "email": f"{romaji}@{domain}", "phone": phone},
            {"name": f"{family2} {rng.choice(GIVEN_NAMES)}", "title": rng.choice(DECIDER_TITLES),
             "email": f"{romaji2}@{domain}", "is_decision_maker": True}]


def _register(api: Api, company: Company, anchor: date) -> None:
    """Registration and contacts, a few days before the company's first deal."""
    at = moment(anchor, company.registered_days_ago)
    who = company.story.by
    body = company.registration()
    if company.customer_id:
        body["customer_id"] = company.customer_id
    company.customer_id = api.post(who, "/customers", body, f"{company.place}-register", at,
                                   creates="customer_id")["created"]["customer_id"]
    for i, contact in enumerate(company.contacts):
        api.post(who, f"/customers/{company.customer_id}/contacts", contact, f"{company.place}-contact{i}",
                 at + timedelta(minutes=30 * (i + 1)))


def _anchor(api: Api, showcase: Company, first_deal: DealRun, now: datetime | None) -> date:
    """The first run's day: read back from the showcase company if an earlier run registered it."""
    stored = api.get(f"/customers/{showcase.customer_id}")
    if stored is None:
        now = now or datetime.now(timezone.utc)
        if now.tzinfo is None:
            raise DemoError("now needs a UTC offset")
        return now.astimezone(JST).date()
    if stored["company_name"] != showcase.profile.name:
        raise DemoError(f"customer {showcase.customer_id} is '{stored['company_name']}', not the demo's "
                        f"'{showcase.profile.name}'")
    if stored["deals"]:
        opened = datetime.fromisoformat(stored["deals"][0]["opened_at"]).astimezone(JST).date()
        return opened + timedelta(days=first_deal.opened_days_ago)
    return _probe_anchor(api, showcase)


def _probe_anchor(api: Api, showcase: Company) -> date:
    """An earlier run registered the showcase company and stopped: find the day its registration was sent for."""
    today = datetime.now(JST).date()
    body = {**showcase.registration(), "customer_id": showcase.customer_id}
    for back in range(0, 3 * MAX_DAYS):
        candidate = today - timedelta(days=back)
        response = api.send(showcase.story.by, "/customers", body, f"{showcase.place}-register",
                            moment(candidate, showcase.registered_days_ago))
        if response.is_success:
            return candidate
        if response.status_code != 422 or response.json().get("code") != "idempotency_key_reused":
            api.check(response, "/customers", f"{showcase.place}-register")
    raise DemoError(f"customer {showcase.customer_id} exists, but no day of the last {3 * MAX_DAYS} registered it")


def _summarize(summary: DemoSummary, process: ProcessDefinition, plan: list[Company],
               runs: list[list[DealRun]], anchor: date) -> None:
    deals = [run for company_runs in runs for run in company_runs]
    keys = Counter(company_key(c.profile.name) for c in plan)
    summary.anchor = anchor
    summary.companies, summary.deals = len(plan), len(deals)
    summary.showcase_customer_id = plan[0].customer_id
    summary.customer_ids = tuple(c.customer_id for c in plan)
    summary.duplicate_customer_ids = tuple(c.customer_id for c in plan if keys[company_key(c.profile.name)] > 1)
    summary.deal_ids = tuple(run.ids["deal_id"] for run in deals)
    summary.ticket_ids = tuple(v for run in deals for k, v in run.ids.items() if k.startswith("ticket"))
    summary.outcomes = dict(Counter("lost" if r.story.lost else "won" if r.story.won else "open" for r in deals))
    order = [stage.id for stage in process.stages()]
    reached = Counter(r.story.reach for r in deals if r.story.lost is None)
    summary.stages = {stage: reached[stage] for stage in order if reached[stage]}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.dev.demo", description=(
        "Write the demo history through a running command API; tokens from TOKEN_SALES, TOKEN_SALES_BRANCH, "
        "TOKEN_CS, TOKEN_SUPPORT, TOKEN_TECH, and TOKEN_MANAGER for the teams' targets (as in DATA_DIR/dev.env)."))
    parser.add_argument("--command-url", default=os.environ.get("COMMAND_URL", "http://127.0.0.1:8000"))
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = parser.parse_args(argv)
    names = {key: f"TOKEN_{key.upper()}" for key in WRITERS}
    missing = [name for name in names.values() if not os.environ.get(name)]
    names[TARGET_SETTER] = f"TOKEN_{TARGET_SETTER.upper()}"  # optional: the targets
    if missing:
        print(f"missing {', '.join(missing)}: source DATA_DIR/dev.env (set -a; . .data/dev.env; set +a)",
              file=sys.stderr)
        return 2
    tokens = {key: os.environ[name] for key, name in names.items() if os.environ.get(name)}
    try:
        with httpx.Client(base_url=args.command_url, timeout=60) as client:
            summary = write_demo(client, tokens, seed=args.seed)
    except (DemoError, httpx.HTTPError) as error:
        print(f"demo: {error}", file=sys.stderr)
        return 1
    print(summary.describe())
    return 0


if __name__ == "__main__":
    sys.exit(main())
