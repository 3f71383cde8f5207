"""One owner of the schema: every table is made here, by numbered migrations and each read model's statements.

``migrate`` (``runner.py``) applies, under the schema lock, each ``mNNNN_*.py`` module not yet recorded in
``schema_migrations``, in order, each in its own transaction with its record; then the read models it is given
(``read_models.py``): their missing tables are created from their own statements, and a definition that
differs from the one the database holds marks the read model "needs rebuild". Every service runs it at start-up;
``customer-timeline migrate`` runs it and prints what it applied.
"""

from shared.migrations.runner import migrate

__all__ = ["migrate"]
