"""The I/O-free core: everything the provider knows about the Evolink API, with no network calls.

The ``requests`` path of the hook and the aiohttp path of the trigger both call into this package, so a
rule about the API (a field range, a retryable status, a terminal state) lives in exactly one place.
"""
