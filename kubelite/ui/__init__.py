"""The web dashboard's static assets (``static/``), served by the gateway at ``/ui/``.

Plain ES modules and vendored libraries (see docs/ui.md and
static/vendor/vendor-lock.json); nothing here is built or run in Python.
"""
