"""WARC records, written and read back: the one place that knows the WARC format.

- records.py: the record builder (warcinfo, request/response/revisit records, one gzip member each)
- digests.py: block and payload digests, the one definition (payload over the de-chunked body)
- reader.py: one record read back at its offset, checked as a whole gzip member and digested
- warcio_parts.py: the warcio classes the writer uses, imported without fsspec (start-up)
"""

from .digests import CHUNKED, MAX_HEAD, Digests, digest_block, digest_label, sha1_label
from .reader import StoredRecord
from .records import (
    CONFORMS_TO,
    GZIP_LEVEL,
    PACKED_LEVEL,
    REVISIT_PROFILE,
    WARC_VERSION,
    Original,
    RecordBuilder,
    RecordInfo,
    RecordOutput,
    gzip_level,
    new_record_id,
    warc_date,
)

__all__ = [
    "CHUNKED", "CONFORMS_TO", "GZIP_LEVEL", "MAX_HEAD", "PACKED_LEVEL", "REVISIT_PROFILE", "WARC_VERSION",
    "Digests", "Original", "RecordBuilder", "RecordInfo", "RecordOutput", "StoredRecord",
    "digest_block", "digest_label", "gzip_level", "new_record_id", "sha1_label", "warc_date",
]
