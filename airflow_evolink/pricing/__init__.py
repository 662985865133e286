"""What a generation costs before it is paid for, from Evolink's published pricing rules.

``GET {base}/v1/catalog/models/{model}/pricing-rules?view=full`` (public, no key) publishes each model's
rules. The hook's ``estimate_cost(request)`` reads them (cached until ``meta.fresh_until``, revalidated by
ETag) and evaluates them for one request, exactly, in integer UC (see :mod:`airflow_evolink.core.money`).
``python -m airflow_evolink.estimate`` does the same from the command line.

No I/O and no Airflow in the core; one thin transport:

- :mod:`.estimate`: the result type every caller shares (:class:`~.estimate.CostEstimate`);
- :mod:`.rules`: the published schema as pydantic models, checked once when read;
- :mod:`.expressions`: the expression ops, evaluated with exact rationals;
- :mod:`.parameters`: request fields to pricing parameters (aliases, counts, defaults, measured usage);
- :mod:`.defaults`: the spec defaults a source states;
- :mod:`.evaluate`: tiers, rounding, minimum charge, partial and unavailable;
- :mod:`.cache`: rules kept per (base URL, model);
- :mod:`.client`: the HTTP read (``requests`` + the project's retry policy) and ``estimate``.
"""
