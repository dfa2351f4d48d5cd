"""Fetching cited URLs, the only package that imports requests.

- results.py: `Hop` and `FetchResult`, plain data (no HTTP stack: the WARC writer reads them)
- guard.py: the address guard: `AddressPolicy` (which addresses may be connected to) and `dial`, which
  every connection opens through (no second lookup between the check and the connect)
- wire.py: recording the bytes sent and received on urllib3's connections, which dial through the
  guard, at the resolver override's addresses for a listed host:port
- fetcher.py: `Fetcher`: redirects, retries, time caps, the DNS pre-check (which the override answers)
  whose addresses the guard judges and the connection dials
- failures.py: `failure_of`: an exception from the HTTP stack -> the failure it means
- politeness.py: `HostGate`: per-host concurrency and pause, shared by a run's workers

Import from the module that owns a name (`from archiver.fetch.fetcher import Fetcher`): this file
stays empty so that importing `archiver.fetch.results` never loads requests.
"""
