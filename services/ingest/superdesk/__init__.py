"""Superdesk's HTTP Push, as its `http_push` transmitter sends it: ninjs items POSTed to a
destination's resource URL, their images to its assets URL, every body signed with the
destination's secret (`x-superdesk-signature: sha1=<HMAC-SHA1 hex>`)."""
