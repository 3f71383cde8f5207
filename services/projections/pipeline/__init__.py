"""The pipeline read model: one row per deal, each deal's stage history, each customer's state.

``tables`` names and creates its tables, ``projection`` (with ``stage_history``) writes them,
and the query modules read them: ``deals`` (the pipeline now, won and lost counts), ``customers``
(one customer's page, search), ``analytics`` (funnel, time in stage, KPIs), ``stagnation``
(stuck deals, next actions), ``outcomes`` (win and loss reasons with their notes; it also holds
the handlers that write them) and ``as_of`` (the pipeline at a past moment).
"""
