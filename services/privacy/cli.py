"""``customer-timeline personal-data``: a privacy officer's requests, one command each."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from uuid import UUID

from shared.settings import Settings


def _actor(args: argparse.Namespace):
    from shared.events import Actor

    return Actor(user=args.user, department=args.department, team=args.team, site=args.site)


def _run(request):
    """Open the office, run the request, report a refusal as one line (exit 2)."""
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from shared.domain.errors import DomainError

        from services.privacy.office import open_office

        office = open_office(settings)
        try:
            return request(office, settings, args)
        except DomainError as error:
            print(f"personal-data {args.action}: {error}", file=sys.stderr)
            return 2
        finally:
            office.close()
    return run


def _export(office, settings: Settings, args: argparse.Namespace) -> int:
    from services.privacy.disclosure import disclose

    text = disclose(office, args.contact_id, _actor(args), args.format, args.recipient)
    if args.output:
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"written: {args.output}")
    else:
        sys.stdout.write(text)
    return 0


def _correct(office, settings: Settings, args: argparse.Namespace) -> int:
    from shared.commands import CorrectContact
    from shared.events.personal import ContactCorrection

    correction = ContactCorrection(name=args.name, title=args.title, email=args.email, phone=args.phone,
                                   reason=args.reason)
    subject = office.subject(args.contact_id)
    outcome = office.execute(subject.customer_id, CorrectContact(contact_id=args.contact_id, details=correction),
                             _actor(args))
    print(json.dumps({"corrected": sorted(correction.corrected_fields()), **outcome.as_response()},
                     ensure_ascii=False))
    return 0


def _erase(office, settings: Settings, args: argparse.Namespace) -> int:
    from shared.commands import EraseContact

    subject = office.subject(args.contact_id)
    outcome = office.execute(subject.customer_id, EraseContact(contact_id=args.contact_id, note=args.note),
                             _actor(args))
    print(json.dumps({"erased": str(args.contact_id), **outcome.as_response()}, ensure_ascii=False))
    return 0


def _retention(office, settings: Settings, args: argparse.Namespace) -> int:
    from services.privacy.retention import run_retention

    return run_retention(office, settings, _actor(args), dry_run=args.dry_run)


def _recipients(office, settings: Settings, args: argparse.Namespace) -> int:
    from services.privacy.recipients import print_recipients

    return print_recipients(office, settings, args.format)


def _who(command: argparse.ArgumentParser) -> None:
    command.add_argument("--user", required=True, help="the privacy officer (recorded on the event)")
    command.add_argument("--department", default="tech", choices=("sales", "cs", "support", "tech"))
    command.add_argument("--team")
    command.add_argument("--site")


def add_parser(commands) -> None:
    data = commands.add_parser("personal-data", help="a privacy officer's requests (APPI): disclose, correct or "
                                                     "erase a contact's data, retention, recipients")
    actions = data.add_subparsers(dest="action", required=True)
    export = actions.add_parser("export", help="everything held about one contact, with where and when (開示); "
                                               "records the disclosure")
    export.add_argument("contact_id", type=UUID)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    export.add_argument("--output", help="write to this file (default: standard output)")
    export.add_argument("--recipient", default="data subject", help="to whom it is given")
    _who(export)
    export.set_defaults(run=_run(_export))
    correct = actions.add_parser("correct", help="correct a contact's details everywhere (訂正); the earlier "
                                                 "values stay in the history for auditors")
    correct.add_argument("contact_id", type=UUID)
    for name in ("name", "title", "email", "phone"):
        correct.add_argument(f"--{name}")
    correct.add_argument("--reason", default="")
    _who(correct)
    correct.set_defaults(run=_run(_correct))
    erase = actions.add_parser("erase", help="erase a contact's personal data (消去): their key is deleted, every "
                                             "copy becomes 削除済み; deals, amounts and stages stay")
    erase.add_argument("contact_id", type=UUID)
    erase.add_argument("--note", default="")
    _who(erase)
    erase.set_defaults(run=_run(_erase))
    retention = actions.add_parser("retention", help="erase the contacts of customers with no activity for "
                                                     "PERSONAL_DATA_RETENTION_YEARS (list first with --dry-run)")
    retention.add_argument("--dry-run", action="store_true", help="list what is past retention; erase nothing")
    _who(retention)
    retention.set_defaults(run=_run(_retention))
    recipients = actions.add_parser("recipients", help="who receives personal data (consumer groups, exports) "
                                                       "and what they may receive")
    recipients.add_argument("--format", choices=("table", "json"), default="table")
    recipients.set_defaults(run=_run(_recipients))
