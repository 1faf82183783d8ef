"""The composition root: what a tenant's tasks run with, built one way for every system.

- tenant.py: :class:`Tenant` (mapping, ledger handle, clients) and the process's cache of them;
- clients.py: one builder per system, from the tenant's credential block;
- ledgers.py: one ledger engine per ledger URL, shared by the tenants on it;
- qbo_tokens.py, qbo_limits.py: QuickBooks Online's token store and per-company limits;
- io_pool.py: the bounded thread pool for one-request-per-item I/O.

Nothing here imports ``tasks/``: tasks receive what they need from here.
"""
