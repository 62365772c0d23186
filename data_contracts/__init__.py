"""Contracts: domain model, frame schemas, config schema, ports and the market's published rules.

Nothing in this package knows about Dagster, Bytewax, Dash or Kite's client library. Everything
here is immutable, tz-aware and validated at construction: a constructor given bad data raises
:class:`~data_contracts.errors.ContractError` naming the field, the value and the rule.
"""
