"""Feed ingestion: fetch over HTTP (timeouts, size cap) and parse bytes with feedparser into `Story` records."""
