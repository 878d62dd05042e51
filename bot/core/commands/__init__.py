"""Comment commands (pure): parsing, authorisation table, rate limiting, records, replies."""

from bot.core.commands.authz import REQUIRED, allowed, level, needs_lookup
from bot.core.commands.grammar import (
    NAMES,
    AcceptDrop,
    Command,
    Explain,
    Help,
    Invalid,
    Plan,
    Recheck,
    Status,
    Unknown,
    Waive,
    name_of,
    parse_commands,
    parse_line,
)
from bot.core.commands.ratelimit import Decision, RateLimiter
from bot.core.commands.records import (
    AcceptedDrop,
    WaiverRecord,
    drop_block,
    find_accepted_drop,
    is_ours,
    waiver_block,
    waivers_from_comments,
)

__all__ = [
    "NAMES", "REQUIRED", "AcceptDrop", "AcceptedDrop", "Command", "Decision", "Explain",
    "Help", "Invalid", "Plan", "RateLimiter", "Recheck", "Status", "Unknown", "Waive",
    "WaiverRecord", "allowed", "drop_block", "find_accepted_drop", "is_ours", "level",
    "name_of", "needs_lookup", "parse_commands", "parse_line", "waiver_block",
    "waivers_from_comments",
]
