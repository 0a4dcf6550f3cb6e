"""Reports: the case from intake to closure (一张工单管到底), and who handles it.

Owns: the category catalogue (``categories``), what a report looks like as received and
its database-free checks (``intake``), registering reports (``registration`` reads what a
pass needs, ``planning`` decides each row with no database, ``store`` writes and probes for
duplicates; ``outcomes`` are the per-item answers), the closed loop (``workflow``), the one trail
writer (``trail``), who handles a grid and the escalation chain (``routing``), field
dispatch and worker positions (``dispatch``), re-matching after a boundary change
(``rematch``: the moves computed, a dry run, then applied), photos (``photos``), listings and rates (``queries``), and the
administrative clean-up the application never does itself (``maintenance``).

A new rule about a case's life (a status, a deadline, a hop between hands) belongs here.
"""
