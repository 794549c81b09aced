"""The built-in retention policies, one module each (see ``retain/policy.py``)."""
