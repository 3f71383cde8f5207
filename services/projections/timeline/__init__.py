"""The cross-department timeline read model: every event of a customer as one readable entry.

``tables`` names and creates its tables, ``projection`` writes them (one-line texts from
``summaries``, worded with ``wording``), and ``queries`` reads a customer's timeline a page
at a time.
"""
