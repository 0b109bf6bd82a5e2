"""Placeholder: accepts every call and writes nothing (replaced by issue 5)."""


class AuditLog:
    def __init__(self, path=None, max_mb=None, **_):
        self.path = path

    def __getattr__(self, name):
        return lambda *a, **k: None
