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
        super().__init__(f"{owner}.{field} {rule}, was {_shown(value)}{where}")


def _shown(value: object) -> str:
    """``repr`` of the bad value; an integer too long for ``repr`` (Python refuses more than 4,300
    digits) is described instead, so that reporting bad input can never fail itself."""
    try:
        return repr(value)
    except ValueError:
        if isinstance(value, int):
            return f"<an integer of {value.bit_length()} bits>"
        return f"<a {type(value).__name__} that cannot be shown>"
