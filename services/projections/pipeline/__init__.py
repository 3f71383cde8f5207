"""The pipeline read model: one row per deal, each deal's stage history, each customer's state.

``tables`` names and creates its tables, ``projection`` (with ``stage_history``) writes them,
and the query modules read them: ``deals`` (the pipeline now, closed deals), ``customers``
(one customer's page, search), ``analytics`` (funnel, time in stage, KPIs), ``stagnation``
(stuck deals, next actions) and ``as_of`` (the pipeline at a past moment).
"""
