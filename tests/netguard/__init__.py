"""The network guard of the test suite: nothing a test runs may reach beyond loopback.

``loopback_only`` patches the socket layer (connect, name lookups); ``session`` installs it
in the pytest process and, through ``sitecustomize`` on ``PYTHONPATH``, in every Python
process the tests start, and fails the test during which any of them tried.
"""
