"""NewsML-G2 in: wire agencies' newsItems and newsMessages mapped to our articles."""
