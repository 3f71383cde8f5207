"""One-line Japanese and English summaries of every event type, for the timeline.

``SUMMARIES`` maps each event class to its function ``(event, process) -> (ja, en)``;
the labels and pieces they are made of are in ``wording``.
"""

from __future__ import annotations

from services.projections.handlers import Handlers
from services.projections.timeline.wording import (
    CHANNELS, CONTACT_FIELDS, DIRECTIONS, ERASURE_REASONS, FEEDBACK_KINDS, HEARING_ITEMS, LEAD_SOURCES, OPEN_POINTS, PLACES, PRIORITIES,
    SURVEY_METHODS, TICKET_STATUSES, Summary, field_label, fixed, joined, label, option, phase_stage, selection,
    short, titled, when, with_detail, yen,
)
from shared import events as ev
from shared.process import ProcessDefinition


def _unknown(e: ev.CustomerEvent, p: ProcessDefinition) -> Summary:
    return type(e).__name__, type(e).__name__


SUMMARIES = Handlers(default=_unknown)  # an event type without a summary is shown by its name


@SUMMARIES.on(ev.CustomerRegistered)
def customer_registered(e: ev.CustomerRegistered, p: ProcessDefinition) -> Summary:
    return titled(("顧客登録", "Customer registered"), e.company_name)


@SUMMARIES.on(ev.ContactAdded)
def contact_added(e: ev.ContactAdded, p: ProcessDefinition) -> Summary:
    ja, en = with_detail((e.name, e.name), e.title)
    if e.is_decision_maker:
        ja, en = ja + "・決裁者", en + ", decision maker"
    return f"担当者追加: {ja}", f"Contact added: {en}"


@SUMMARIES.on(ev.TouchpointRecorded)
def touchpoint(e: ev.TouchpointRecorded, p: ProcessDefinition) -> Summary:
    (cj, ce), (dj, de) = fixed(CHANNELS, e.channel), fixed(DIRECTIONS, e.direction)
    return titled((f"{cj}（{dj}）", f"{ce} ({de})"), e.summary)


@SUMMARIES.on(ev.LeadSourceRecorded)
def lead_source(e: ev.LeadSourceRecorded, p: ProcessDefinition) -> Summary:
    ja, en = with_detail(fixed(LEAD_SOURCES, e.source), e.detail)
    return f"流入経路: {ja}", f"Lead source: {en}"


@SUMMARIES.on(ev.DealOpened)
def deal_opened(e: ev.DealOpened, p: ProcessDefinition) -> Summary:
    sj, se = phase_stage(p, e.phase, e.stage)
    return f"案件作成: {short(e.title)}（{sj}）", f"Deal opened: {short(e.title)} ({se})"


@SUMMARIES.on(ev.DealImported)
def deal_imported(e: ev.DealImported, p: ProcessDefinition) -> Summary:
    sj, se = phase_stage(p, e.phase, e.stage)
    return (f"案件取り込み: {short(e.title)}（{sj}、取込元: {short(e.source)}）",
            f"Deal imported: {short(e.title)} ({se}, from {short(e.source)})")


@SUMMARIES.on(ev.StageChanged)
def stage_changed(e: ev.StageChanged, p: ProcessDefinition) -> Summary:
    (fj, fe), (tj, te) = phase_stage(p, e.from_phase, e.from_stage), phase_stage(p, e.to_phase, e.to_stage)
    return f"ステージ変更: {fj} → {tj}", f"Stage: {fe} → {te}"


@SUMMARIES.on(ev.DealWon)
def deal_won(e: ev.DealWon, p: ProcessDefinition) -> Summary:
    (wj, we), (rj, re_) = label(p, "won"), joined(option(p, "win_reason", r.choice) for r in e.win_reasons)
    return f"{wj}（決め手: {rj}）", f"{we} (why: {re_})"


@SUMMARIES.on(ev.DealLost)
def deal_lost(e: ev.DealLost, p: ProcessDefinition) -> Summary:
    (lj, le), (rj, re_) = label(p, "lost"), selection(p, "lost_reason", e.reason)
    return f"{lj}: {rj}", f"{le}: {re_}"


@SUMMARIES.on(ev.NextActionSet)
def next_action_set(e: ev.NextActionSet, p: ProcessDefinition) -> Summary:
    ja, en = selection(p, "next_action", e.plan)
    if e.due_at is not None:
        ja, en = f"{ja}、期限 {when(e.due_at)}", f"{en}, due {when(e.due_at)}"
    return f"次のアクション: {ja}", f"Next action: {en}"


@SUMMARIES.on(ev.NextActionCompleted)
def next_action_completed(e: ev.NextActionCompleted, p: ProcessDefinition) -> Summary:
    return titled(("次のアクション完了", "Next action done"), e.outcome)


@SUMMARIES.on(ev.TemperatureSet)
def temperature_set(e: ev.TemperatureSet, p: ProcessDefinition) -> Summary:
    parts = [(field_label(p, "temperature", "温度感", "Temperature"), selection(p, "temperature", e.temperature))]
    if e.decision_status is not None:
        parts.append((field_label(p, "decision_status", "検討状況", "Decision status"),
                      selection(p, "decision_status", e.decision_status)))
    return ("／".join(f"{f[0]}: {v[0]}" for f, v in parts), " / ".join(f"{f[1]}: {v[1]}" for f, v in parts))


@SUMMARIES.on(ev.HearingRecorded)
def hearing(e: ev.HearingRecorded, p: ProcessDefinition) -> Summary:
    ja, en = joined(labels for item, labels in HEARING_ITEMS.items() if getattr(e, item))
    head = (f"ヒアリング記録（{ja}）", f"Hearing recorded ({en})") if ja else ("ヒアリング記録", "Hearing recorded")
    return titled(head, e.issue or e.notes)


@SUMMARIES.on(ev.MeetingScheduled)
def meeting_scheduled(e: ev.MeetingScheduled, p: ProcessDefinition) -> Summary:
    pj, pe = fixed(PLACES, e.place)
    return (f"アポ設定: {when(e.scheduled_at)} {pj} — {short(e.purpose)}",
            f"Meeting scheduled: {when(e.scheduled_at)} {pe} — {short(e.purpose)}")


@SUMMARIES.on(ev.MeetingHeld)
def meeting_held(e: ev.MeetingHeld, p: ProcessDefinition) -> Summary:
    return titled(("商談実施", "Meeting held"), e.minutes)


@SUMMARIES.on(ev.ProposalSent)
def proposal_sent(e: ev.ProposalSent, p: ProcessDefinition) -> Summary:
    return titled(("提案送付", "Proposal sent"), e.title)


@SUMMARIES.on(ev.QuoteSubmitted)
def quote_submitted(e: ev.QuoteSubmitted, p: ProcessDefinition) -> Summary:
    ja, en = with_detail(yen(e.amount), e.note)
    return f"見積提出: {ja}", f"Quote submitted: {en}"


@SUMMARIES.on(ev.ProposalFeedbackRecorded)
def proposal_feedback(e: ev.ProposalFeedbackRecorded, p: ProcessDefinition) -> Summary:
    ja, en = with_detail(option(p, "initial_reaction", e.reaction.choice), e.reaction.note or e.concerns)
    return f"提案への反応: {ja}", f"Proposal feedback: {en}"


@SUMMARIES.on(ev.RevisionRequested)
def revision_requested(e: ev.RevisionRequested, p: ProcessDefinition) -> Summary:
    return titled(("修正依頼", "Revision requested"), e.request)


@SUMMARIES.on(ev.RevisionDone)
def revision_done(e: ev.RevisionDone, p: ProcessDefinition) -> Summary:
    return titled(("修正対応完了", "Revision done"), e.response)


@SUMMARIES.on(ev.ApprovalStatusUpdated)
def approval_status(e: ev.ApprovalStatusUpdated, p: ProcessDefinition) -> Summary:
    fj, fe = field_label(p, "approval_status", "稟議状況", "Approval status")
    ja, en = with_detail(option(p, "approval_status", e.status.choice), e.stuck_at or e.status.note)
    return f"{fj}: {ja}", f"{fe}: {en}"


@SUMMARIES.on(ev.ContractTermsUpdated)
def contract_terms(e: ev.ContractTermsUpdated, p: ProcessDefinition) -> Summary:
    if e.agreed:
        return "契約条件: 合意済み", "Contract terms: agreed"
    ja, en = joined(fixed(OPEN_POINTS, point) for point in e.open_points)
    if not ja:
        return titled(("契約条件を更新", "Contract terms updated"), e.blockers or e.note)
    return f"契約条件の論点: {ja}", f"Open contract points: {en}"


@SUMMARIES.on(ev.ContractSigned)
def contract_signed(e: ev.ContractSigned, p: ProcessDefinition) -> Summary:
    ja, en = with_detail(yen(e.price), e.scope)
    return f"契約締結: {ja}", f"Contract signed: {en}"


@SUMMARIES.on(ev.HandedOffToCS)
def handed_off(e: ev.HandedOffToCS, p: ProcessDefinition) -> Summary:
    return f"CS引き継ぎ: {e.cs_owner} — {short(e.goal)}", f"Handed off to CS: {e.cs_owner} — {short(e.goal)}"


@SUMMARIES.on(ev.OnboardingProgressRecorded)
def onboarding(e: ev.OnboardingProgressRecorded, p: ProcessDefinition) -> Summary:
    ja, en = with_detail((f"{e.progress_percent}%", f"{e.progress_percent}%"), e.status or e.note)
    return f"導入進捗: {ja}", f"Onboarding: {en}"


@SUMMARIES.on(ev.SatisfactionRecorded)
def satisfaction(e: ev.SatisfactionRecorded, p: ProcessDefinition) -> Summary:
    mj, me = fixed(SURVEY_METHODS, e.method)
    ja, en = with_detail((f"{e.score}/5（{mj}）", f"{e.score}/5 ({me})"), e.comment)
    return f"満足度: {ja}", f"Satisfaction: {en}"


@SUMMARIES.on(ev.CustomerFeedbackRecorded)
def customer_feedback(e: ev.CustomerFeedbackRecorded, p: ProcessDefinition) -> Summary:
    tj, te = fixed(FEEDBACK_KINDS, e.kind)
    return f"フィードバック（{tj}）: {short(e.summary)}", f"Feedback ({te}): {short(e.summary)}"


@SUMMARIES.on(ev.TicketOpened)
def ticket_opened(e: ev.TicketOpened, p: ProcessDefinition) -> Summary:
    pj, pe = fixed(PRIORITIES, e.priority)
    return (f"問い合わせ起票: {short(e.title)}（優先度: {pj}）",
            f"Ticket opened: {short(e.title)} (priority: {pe})")


@SUMMARIES.on(ev.TicketUpdated)
def ticket_updated(e: ev.TicketUpdated, p: ProcessDefinition) -> Summary:
    ja, en = with_detail(fixed(TICKET_STATUSES, e.status), e.note)
    return f"問い合わせ更新: {ja}", f"Ticket updated: {en}"


@SUMMARIES.on(ev.TicketResolved)
def ticket_resolved(e: ev.TicketResolved, p: ProcessDefinition) -> Summary:
    return titled(("問い合わせ解決", "Ticket resolved"), e.resolution)


@SUMMARIES.on(ev.CustomerMerged)
def customer_merged(e: ev.CustomerMerged, p: ProcessDefinition) -> Summary:
    return titled((f"名寄せ: {short(e.survivor_name)} に統合", f"Merged into {short(e.survivor_name)}"), e.note)


@SUMMARIES.on(ev.CustomerAbsorbed)
def customer_absorbed(e: ev.CustomerAbsorbed, p: ProcessDefinition) -> Summary:
    return titled((f"名寄せ: {short(e.merged_name)} を統合", f"Merged in {short(e.merged_name)}"), e.note)


@SUMMARIES.on(ev.CustomerUnmerged)
def customer_unmerged(e: ev.CustomerUnmerged, p: ProcessDefinition) -> Summary:
    return titled((f"名寄せ解除: {short(e.survivor_name)} から分離", f"Unmerged from {short(e.survivor_name)}"), e.note)


@SUMMARIES.on(ev.CustomerReleased)
def customer_released(e: ev.CustomerReleased, p: ProcessDefinition) -> Summary:
    return titled((f"名寄せ解除: {short(e.merged_name)} を分離", f"Unmerged {short(e.merged_name)}"), e.note)


@SUMMARIES.on(ev.ContactCorrected)
def contact_corrected(e: ev.ContactCorrected, p: ProcessDefinition) -> Summary:
    """Which details were corrected, not their values: the contact's entries show those (re-derived)."""
    fj, fe = joined(fixed(CONTACT_FIELDS, name) for name in e.corrected_fields())
    return titled((f"担当者情報の訂正（{fj}）", f"Contact corrected ({fe})"), e.reason)


@SUMMARIES.on(ev.ContactErased)
def contact_erased(e: ev.ContactErased, p: ProcessDefinition) -> Summary:
    rj, re_ = fixed(ERASURE_REASONS, e.reason)
    return titled((f"担当者の個人情報を消去（{rj}）", f"Contact's personal data erased ({re_})"), e.note)


@SUMMARIES.on(ev.PersonalDataDisclosed)
def personal_data_disclosed(e: ev.PersonalDataDisclosed, p: ProcessDefinition) -> Summary:
    return (f"個人情報の開示: {e.items}件（{e.format.upper()}、開示先: {short(e.recipient)}）",
            f"Personal data disclosed: {e.items} items ({e.format.upper()}, to {short(e.recipient)})")


def summarize(event: ev.CustomerEvent, process: ProcessDefinition) -> Summary:
    """The (ja, en) one-liner of an event; its type name for a type without a summary."""
    return SUMMARIES(event, process)
