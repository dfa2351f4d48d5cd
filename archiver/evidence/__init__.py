"""Evidence a capture can show others: the TLS peer (tls.py), signed WACZ (signing.py), provenance."""
