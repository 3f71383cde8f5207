"""A privacy officer's requests under Japan's APPI: disclosure (開示), correction (訂正), erasure (消去),
retention, and the record of who receives personal data. One command each: ``customer-timeline
personal-data``; the same over HTTP for the ``privacy`` and ``admin`` roles."""
