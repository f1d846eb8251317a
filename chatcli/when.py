"""`--since WHEN`: a moment a user types, as the transcript's clock (Unix ms).

Relative forms count back from now (`90s`, `15m`, `2h`, `3d`, `1w`); absolute ones are
ISO 8601 dates or times (`2024-05-01`, `2024-05-01T14:00`, with or without an offset),
read in the local time zone when they name none, as `date` and `git log --since` do.
"""

from __future__ import annotations

import re
from datetime import datetime

from chatcli.errors import UsageError

UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
RELATIVE = re.compile(r"(\d+)\s*([smhdw])")


def since_ms(text: str, now_ms: int) -> int:
    """The earliest `created_at` a message may have to be shown; UsageError if unreadable."""
    given = text.strip()
    relative = RELATIVE.fullmatch(given.lower())
    if relative:
        count, unit = relative.groups()
        return now_ms - int(count) * UNIT_SECONDS[unit] * 1000
    try:
        moment = datetime.fromisoformat(given)
    except ValueError:
        raise UsageError(
            f"invalid --since {text!r}: give an ISO date or time (2024-05-01, "
            "2024-05-01T14:00) or an age like 90s, 15m, 2h, 3d, 1w"
        ) from None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp() * 1000)
