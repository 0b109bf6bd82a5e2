"""tracejail: a Linux process jail with a ptrace supervisor and a syscall audit.

Data flows one way: CLI/config -> JailConfig -> policy compiler -> launcher ->
supervisor -> audit -> reports.
"""
__version__ = "0.1.0"
