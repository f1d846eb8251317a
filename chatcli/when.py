"""The transcript's clock (Unix ms) as people read and type it.

`--since WHEN`: relative forms count back from now (`90s`, `15m`, `2h`, `3d`, `1w`);
absolute ones are ISO 8601 dates or times (`2024-05-01`, `2024-05-01T14:00`, with or
without an offset), read in the local time zone when they name none, as `date` and
`git log --since` do. `moment_text` shows a message's time in that zone too.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo

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


def moment_text(ms: int, zone: tzinfo | None = None) -> str:
    """A message's time to the minute, in `zone` (the local one by default): what a user
    would type back to --since."""
    moment = datetime.fromtimestamp(ms / 1000, zone) if zone else datetime.fromtimestamp(ms / 1000)
    return moment.strftime("%Y-%m-%d %H:%M")
