"""A fake Token Factory for tests and demos: the fine-tuning API, in process, on 127.0.0.1.

::

    from nebius_ft_async.testing import FakeTokenFactory

    async with FakeTokenFactory() as fake:
        job_id = fake.add_job(outcome="failed")
        async with fake.session() as session:
            job = await session.wait_for_job(job_id, poll_interval=0.01)
            assert job.status == "failed"

It serves every endpoint the library calls, with bodies shaped like the API's (including
fields the library does not model), pages with ``after``/``limit`` as the API does, and checks
the bearer key. Jobs follow a scripted lifecycle, ``validating_files`` -> ``queued`` ->
``running`` (growing ``trained_steps``, a metrics event per step, a checkpoint now and then)
-> ``succeeded`` / ``failed`` / ``cancelled``, advanced one step each time the job is polled
or listed, one step per ``step_seconds``, or spread so that the job is final exactly
``finish_after`` seconds after it was added. Faults (429 with ``Retry-After``, 5xx, 404, a
dropped connection) are queued with ``fail_next``. ``transport()`` serves a session in
process, without a port.

Custom models (``/v0/models``) are served too: a created model is ``validating`` for a few
polls, then ``active``, or ``error`` with a ``status_reason`` (an uploaded archive without
``adapter_config.json``, or as scripted through ``models`` / ``add_model``); uploaded files
can be shown going through statuses with ``script_file``. A file's content is fetched as
from the real service: ``GET /v1/files/{file_id}/content`` answers 302 with a signed link to
object storage on another origin (``storage_url``), which refuses a request that carries an
``Authorization`` header (400, as S3 does for a signed link), a wrong signature or an expired
link (403; links live ``link_lifetime`` seconds). Datasets go up in parts as on the real
service: parts are kept, a completed upload is ``COMPLETING`` for a poll and then
``COMPLETED`` with the rows of the assembled JSON Lines (or ``FAILED`` saying which line is
not), and datasets export as JSON Lines or CSV.

Bad input is answered as the API's FastAPI app answers it: every query parameter and body the
fake reads is checked against the API documents the pydantic way, and what they refuse gets a
422 listing every problem, ``{"detail": [{"type": "int_parsing", "loc": ["query", "limit"],
"msg": "...", "input": "true"}]}``; a body that cannot be parsed gets a 400, an unknown path
or method a JSON 404 or 405, an unknown id a 404. The fake answers 5xx only when a fault was
scripted.

For monitors at scale: ``rate_limit`` puts a token bucket in front of the API (429 with
``Retry-After`` / ``retry-after-ms``, ``x-ratelimit-*`` headers on every answer);
``add_jobs`` scripts many jobs at once (100,000 in well under a few seconds), each with its
own ``finish_after``, ``outcome`` and ``created_at`` if wanted; a request costs O(page size)
however many jobs there are (jobs move only when served); and ``list_order`` picks the order
of ``GET /v1/fine_tuning/jobs``.

This is a server, so it imports ``aiohttp.web``; the client's request path stays in
``_session``.
"""

from ._fake import FakeTokenFactory
from ._state import FakeJob, FakeModel, ListOrder, ModelOutcome, Outcome

__all__ = ["FakeJob", "FakeModel", "FakeTokenFactory", "ListOrder", "ModelOutcome", "Outcome"]
