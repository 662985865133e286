"""XCom keys the operators and sensor push; links and downstream tasks read them."""

EVOLINK_TASK = "evolink_task"
#: The request body as sent (model, prompt, inputs): what was asked, beside what Evolink answered.
EVOLINK_REQUEST = "evolink_request"
CREDITS_RESERVED = "credits_reserved"
CREDITS_USED = "credits_used"
#: Pushed (True) when Evolink answered the submission from its Idempotency-Key ledger.
IDEMPOTENCY_REPLAYED = "idempotency_replayed"
ESTIMATED_TIME = "estimated_time"
RESULT_URLS = "result_urls"
DOWNLOADS = "downloads"
#: The price of the request from Evolink's published rules, before the paid POST (CostEstimate.to_xcom()).
EVOLINK_ESTIMATE = "evolink_estimate"
#: What Evolink says it charged: ``billing`` as the task reports it (charge/refund status and credits).
EVOLINK_BILLING = "evolink_billing"
#: A batch's plan within its budget (EvolinkPlanBudgetOperator): per request, per model and the total.
EVOLINK_PLAN = "evolink_plan"
