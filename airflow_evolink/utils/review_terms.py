"""The review step's vocabulary, shared by the operator (task side) and the gallery (api-server side),
so the gallery answers with exactly the options and param the operator asked with."""

APPROVE = "Approve"
REJECT = "Reject"
#: The name of the optional note among the HITL params (and in ``params_input`` of the answer).
NOTE_PARAM = "note"
#: XCom of the review task instance: which video it asks about (the gallery's review page reads it).
REVIEW_OF_KEY = "evolink_review_of"
#: The keyword argument the review task resumes with (its ``next_kwargs``, written by the worker when the
#: question is asked, never by the public API): the video reviewed, the record that counts.
REVIEWED_KWARG = "reviewed"
#: XCom of the review task instance once answered: approved, note, who and when, the files reviewed.
REVIEW_KEY = "evolink_review"
