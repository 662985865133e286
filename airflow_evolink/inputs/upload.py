"""Moved to :mod:`airflow_evolink.hooks.files` (the file service's client is a hook-side client); kept so
existing imports work."""

from __future__ import annotations

from airflow_evolink.hooks.files import (
    CHUNK_BYTES,
    DEFAULT_FILES_BASE_URL,
    FILE_QUOTA,
    FILE_TTL_SECONDS,
    FILES_PREFIX,
    MAX_UPLOAD_BYTES,
    QUOTA_CODES,
    QUOTA_PATH,
    UPLOAD_STREAM_PATH,
    EvolinkFileQuotaError,
    FileServiceClient,
    MultipartStream,
    UploadedFile,
    interpret_file_response,
    parse_expires_at,
    parse_uploaded,
)

__all__ = [
    "CHUNK_BYTES",
    "DEFAULT_FILES_BASE_URL",
    "FILES_PREFIX",
    "FILE_QUOTA",
    "FILE_TTL_SECONDS",
    "MAX_UPLOAD_BYTES",
    "QUOTA_CODES",
    "QUOTA_PATH",
    "UPLOAD_STREAM_PATH",
    "EvolinkFileQuotaError",
    "FileServiceClient",
    "MultipartStream",
    "UploadedFile",
    "interpret_file_response",
    "parse_expires_at",
    "parse_uploaded",
]
