"""Duty rosters: weekly shifts and dated exceptions per worker, and the one duty rule
(``geo.rosters.rules``) that routing, escalation and dispatch read."""
