"""Fleet refresh: many watched jobs read from list pages instead of one GET each.

``GET /v1/fine_tuning/jobs`` gives up to 100 jobs a request. A walk starts at the newest page
and goes on while it pays: until every job looked for has been seen, the pages are older than
the oldest of them, or a page found fewer jobs than it cost (each page after the first must
be paid for by a job found). The spec does not promise newest-first order, so a walk checks
it: a page that lists an older job before a newer one ends the walk and reports the server
as not newest-first. Jobs a walk did not see are the caller's to poll one by one; a caller
that learned from the previous walk where its jobs end can cap the pages (``max_pages``).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping
from typing import NamedTuple

from ._calls import PollingSession
from ._errors import APIError
from ._models import FineTuningJob
from ._retry import is_retryable

FLEET_MIN_JOBS = 10
"""Jobs a monitor must watch before it reads them from list pages."""
FLEET_PAGE_SIZE = 100
"""Jobs asked for per list page."""

Sighting = Callable[[str, FineTuningJob], Awaitable[None]]
"""Told of each job looked for, as a page lists it."""


class FleetWalk(NamedTuple):
    """What one walk did."""

    unseen: set[str]
    """The ids looked for that no page walked listed."""
    pages: int
    """List requests made."""
    useful_pages: int
    """The number of the last page that listed a job looked for (0 if none did)."""
    newest_first: bool
    """False if a page listed jobs out of newest-first order."""
    list_refused: bool
    """True if the list request failed for good (a 403, say): the list cannot be used."""


def keep_walking(
    pages: int, found: int, oldest_listed: float, oldest_wanted: float, unknown_left: int
) -> bool:
    """Whether another page may pay for itself.

    ``oldest_listed`` is the ``created_at`` of the last job listed; ``oldest_wanted`` the
    oldest known ``created_at`` of the jobs looked for; ``unknown_left`` how many unseen jobs
    have never been seen at all (their age is unknown, so the pages cannot be said to be
    past them).
    """
    if pages > found:
        return False
    return unknown_left > 0 or oldest_listed >= oldest_wanted


async def walk_fleet(
    session: PollingSession,
    wanted: Mapping[str, int | None],
    sighted: Sighting,
    timeout: float,
    max_pages: int | None = None,
) -> FleetWalk:
    """Walk list pages, newest first, telling ``sighted`` of each job in ``wanted`` (id ->
    ``created_at`` when known, else ``None``).

    At most ``max_pages`` pages are read, if given. A page that fails ends the walk; a
    failure that will not go away (401, 403, 404, ...) sets ``list_refused``. Every request
    gives up after ``timeout`` seconds.
    """
    unseen = set(wanted)
    known = [created for created in wanted.values() if created is not None]
    oldest_wanted = min(known) if known else math.inf
    unknown_left = len(wanted) - len(known)
    pages = found = useful = 0
    after: str | None = None
    cursors: set[str] = set()
    previous = math.inf
    while unseen:
        try:
            page = await session.list_jobs(limit=FLEET_PAGE_SIZE, after=after, timeout=timeout)
        except APIError as error:
            return FleetWalk(unseen, pages, useful, True, not is_retryable(error))
        pages += 1
        for job in page.data:
            if job.created_at > previous:
                return FleetWalk(unseen, pages, useful, False, False)
            previous = job.created_at
            if job.id in unseen:
                unseen.discard(job.id)
                found += 1
                useful = pages
                if wanted[job.id] is None:
                    unknown_left -= 1
                await sighted(job.id, job)
        if not page.has_more or not page.data:
            break
        cursor = page.data[-1].id
        if cursor in cursors:  # a server whose cursor cycles cannot trap the walk
            break
        cursors.add(cursor)
        if pages == max_pages or not keep_walking(
            pages, found, previous, oldest_wanted, unknown_left
        ):
            break
        after = cursor
    return FleetWalk(unseen, pages, useful, True, False)
