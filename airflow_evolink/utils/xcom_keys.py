"""XCom keys the operators and sensor push; links and downstream tasks read them."""

EVOLINK_TASK = "evolink_task"
EVOLINK_TASK_ID = "evolink_task_id"
EVOLINK_TASK_URL = "evolink_task_url"
CREDITS_RESERVED = "credits_reserved"
CREDITS_USED = "credits_used"
#: Pushed (True) when Evolink answered the submission from its Idempotency-Key ledger.
IDEMPOTENCY_REPLAYED = "idempotency_replayed"
ESTIMATED_TIME = "estimated_time"
RESULT_URLS = "result_urls"
DOWNLOADS = "downloads"
