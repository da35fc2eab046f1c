"""Operator routes (admin scope): display names of sections, tags and authors.

Names belong to the site (see shared/state/display_names.py): an admin's name wins over the
configured one (NEWSWIRE_DISPLAY_NAMES), which wins over the one the site publisher's first
article gave the feed. A change is stored with an event that rebuilds the feed and the index.
An author feed of a publisher other than the site is named with `?publisher=<its name>`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, field_validator

from services.ingest.auth import authorized, documented
from services.ingest.errors import InvalidArticle
from shared.api_keys import ADMIN, ApiKey
from shared.kinds.feed import FeedTarget, NotAFeed, named_target, renamed
from shared.settings import Settings
from shared.state.display_names import AsyncAdminNames, NameChange, check_name

router = APIRouter(prefix="/v1")
Admin = Annotated[ApiKey, Depends(authorized(ADMIN))]
# Where each part of a feed's address is read from, as a 422 names it.
_FIELDS = {"kind": "path.kind", "slug": "path.slug", "publisher": "query.publisher"}
_PUBLISHER = {
    "in": "query",
    "name": "publisher",
    "required": False,
    "description": "for an author feed of a publisher other than the site: its name",
    "schema": {"type": "string"},
}


class DisplayName(BaseModel):
    """The body of a PUT: the name readers see."""

    model_config = ConfigDict(extra="forbid")
    name: str

    @field_validator("name")
    @classmethod
    def _shown(cls, name: str) -> str:
        return check_name(name)


def _names(request: Request) -> AsyncAdminNames:
    return request.app.state.names


def _target(request: Request, kind: str, slug: str) -> FeedTarget:
    """The feed a request addresses, or a 422 naming the part that is wrong."""
    settings: Settings = request.app.state.settings
    publisher = request.query_params.get("publisher")
    if publisher is not None and publisher == settings.site_publisher:
        publisher = None  # the site's own author feed, at its short address
    try:
        return named_target(kind, slug, publisher)
    except NotAFeed as exc:
        field = _FIELDS[exc.part]
        raise InvalidArticle(f"invalid {field}", [{"field": field, "message": str(exc)}]) from None


def _answer(target: FeedTarget, change: NameChange, name: str | None) -> dict[str, Any]:
    return {
        "target": target.name,
        "kind": target.kind,
        "slug": target.slug,
        "publisher": target.publisher or None,
        "status": change.status,
        "name": name,
    }


@router.get("/names", openapi_extra=documented())
async def list_names(request: Request, _: Admin) -> dict[str, Any]:
    """Every named feed: the name it shows and where that comes from (admin, configured,
    site: the site publisher's first article in it)."""
    named = await _names(request).every()
    return {"names": [{"target": n.target, "name": n.name, "source": n.source} for n in named]}


@router.put("/names/{kind}/{slug}", openapi_extra=documented(_PUBLISHER))
async def set_name(
    request: Request, kind: str, slug: str, body: DisplayName, _: Admin
) -> dict[str, Any]:
    """Show the feed under `name` from its next build, which this change queues."""
    target = _target(request, kind, slug)
    change = await _names(request).set(target.name, body.name, renamed(target))
    return _answer(target, change, body.name)


@router.delete("/names/{kind}/{slug}", openapi_extra=documented(_PUBLISHER))
async def unset_name(request: Request, kind: str, slug: str, _: Admin) -> dict[str, Any]:
    """Drop the admin's name: the feed shows its configured name, else the site's, else its
    slug. `name` in the answer is what it shows now (null: its slug)."""
    target = _target(request, kind, slug)
    names = _names(request)
    change = await names.unset(target.name, renamed(target))
    return _answer(target, change, await names.shown(target.name))
