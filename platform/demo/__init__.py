"""The demo: users, phantom cases, demo models and their jobs, reader studies.

The one package above every app (it imports ``cases``, ``inference`` and ``readerstudy``; none of
them imports it). ``manage.py demo`` (``demo/management/commands/demo.py``) wires it.
"""
