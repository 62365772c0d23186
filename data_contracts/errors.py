"""The one error type for data that breaks a contract."""

from __future__ import annotations


class ContractError(ValueError):
    """A value broke a rule of the domain model, a schema, the config or a market rule.

    The message always names the owner and field, the rule, and the offending value, e.g.
    ``Instrument.lot_size must be >= 1, was 0 (NIFTY26JAN24000CE)``.
    """

    def __init__(
        self, owner: str, field: str, value: object, rule: str, subject: str | None = None
    ) -> None:
        self.owner = owner
        self.field = field
        self.value = value
        self.rule = rule
        self.subject = subject
        where = f" ({subject})" if subject else ""
        super().__init__(f"{owner}.{field} {rule}, was {value!r}{where}")
