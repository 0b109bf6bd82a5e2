"""The jail: namespaces, private filesystem view, limits, dropped privileges.

``launcher.Launcher`` owns the ORDER of the setup steps; every other module
here does one concern and is called from it.
"""
