"""Bulk import of existing customer lists (CSV or Excel) through the same commands as the API.

``customer-timeline import KIND FILE --mapping MAPPING [--dry-run]``, KIND one of
``customers``, ``contacts``, ``deals``:

- ``mapping.py``: the mapping file (which column feeds which command field, defaults, value
  translations), loaded with errors naming the line;
- ``readers.py``: CSV (UTF-8, UTF-8 with BOM, Shift_JIS/cp932) and Excel (.xlsx) rows as dicts,
  numbered as the spreadsheet numbers them;
- ``lookups.py``: columns of a second file joined to each row by one of its values;
- ``rows.py``: one row -> one command ``Envelope`` (ids and idempotency keys derived from the
  file's own codes, so a second run appends nothing);
- ``run.py``: batches through ``Customers.execute`` (dry run or real), progress, summary, report.
"""

from __future__ import annotations

import uuid

# Customer ids are uuid5(IMPORT_NAMESPACE, "customer:" + customer code): the same code always
# names the same customer, so contacts and deals files can refer to customers by their code.
IMPORT_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:customer-timeline:import")

KINDS = ("customers", "contacts", "deals")


class ImportSetupError(ValueError):
    """A mapping file or input file that cannot be used at all (the command exits 2)."""


def customer_id_for(code: str) -> uuid.UUID:
    """The customer id an import gives the customer code ``code``."""
    return uuid.uuid5(IMPORT_NAMESPACE, "customer:" + code)
