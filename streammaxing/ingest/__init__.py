"""The ingest: a thin Starlette app — EventSub webhook, probes, metrics, admin API."""
