"""The reliability suite (issue #11): what goes wrong in real trading, provoked and counted.

Process level (``harness``, ``crash``, ``faults``, ``killswitch``): a replayed day through the
real paper exchange, ``kitepilot stream --paper`` and the executor as processes — kill -9 and
restart, broker faults, the kill switch under load. ``python -m tests.reliability`` (``make
chaos``) runs every scenario at full size and records the figures (docs/RELIABILITY.md); the
``test_*`` modules run them small and pin what they found.
"""
