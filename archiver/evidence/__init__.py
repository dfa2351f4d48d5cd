"""Evidence a capture can show to others: the TLS peer (tls.py), signed WACZ (signing.py), provenance (provenance.py)."""
