"""Request inputs read from storage (``ObjectStoragePath`` or ``s3://``, ``gs://``, ``file://`` ... URLs).

Evolink fetches every input by URL, so a storage path is turned into one before the paid POST: uploaded to
Evolink's file service (``input_mode="upload"``) or presigned by its own store (``input_mode="presign"``).
:mod:`.paths` finds the fields and opens them, :mod:`.upload` talks to the file service, :mod:`.resolve`
decides per field and remembers uploads across tries.
"""
