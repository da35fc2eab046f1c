"""Artifact kinds, write-time half: target names, what an article touches, queues.

Light enough for ingest to import: a kind's rendering lives under services/render/ and is
loaded only by the workers (see `Kind.renderer`).
"""
