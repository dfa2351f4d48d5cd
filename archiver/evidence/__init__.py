"""Evidence that holds up outside this machine: the tamper-evident log of what was stored (ledger.py),
RFC 3161 timestamps over its head (timestamps.py), the TLS peer of each capture (tls.py), signed WACZ
(signing.py) and the provenance summary (provenance.py)."""
