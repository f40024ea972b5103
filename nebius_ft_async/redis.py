"""Replicas that share one API key, through Redis (the ``redis`` extra: ``redis>=5``).

::

    from redis.asyncio import Redis
    from nebius_ft_async.redis import RedisBudget, ReplicaMonitor, read_finished

- ``RedisBudget``: one request budget for every process that names it, paced by an atomic
  token bucket in Redis; a 429 seen by one process pauses and slows them all.
- ``ReplicaMonitor``: replicas split the watched jobs with expiring leases, each job polled
  by one live replica, taken over within one lease when its replica dies; each outcome is
  written once to a Redis stream.
- ``register_jobs``: registers jobs for the replicas to watch, from any program.
- ``read_finished``: reads that stream, each entry once per consumer group.

Both fall back to this process alone while Redis cannot be reached, and rejoin when it is
back. Importing ``nebius_ft_async`` does not import this module or ``redis``.
"""

from ._redis_budget import RedisBudget
from ._replicas import JobFinished, ReplicaMonitor, read_finished, register_jobs

__all__ = ["JobFinished", "RedisBudget", "ReplicaMonitor", "read_finished", "register_jobs"]
