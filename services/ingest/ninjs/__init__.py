"""IPTC ninjs in: schema validation (`schemas`) and the mapping to our article (`mapping`)."""

NINJS_MEDIA_TYPE = "application/vnd.iptc.ninjs+json"
