"""Repositories: the only code that writes SQL. Each function takes an open ``AsyncSession``.

Tenant scoping is explicit: functions that read tenant data take a
``tenant_id``; ``None`` means the admin, who sees every tenant.
"""
