"""Near-duplicate syndication dedup: stories join or found story clusters that persist in the state store."""
