"""Converters between tracejail policies and other seccomp profile formats.

``docker``: Docker/OCI seccomp profiles (JSON), both directions.
"""
