"""What a generation costs before it is paid for, from Evolink's published pricing rules.

``GET {base}/v1/catalog/models/{model}/pricing-rules?view=full`` (public, no key) publishes each model's
rules; :mod:`.estimate` holds the result type every caller shares (:class:`CostEstimate`). The hook's
``estimate_cost(request)`` reads the rules (cached until ``meta.fresh_until``, revalidated by ETag) and
evaluates them for one request, exactly, in integer UC (see :mod:`airflow_evolink.core.money`).
"""
