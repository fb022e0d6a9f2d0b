"""DM mock interviews: a persisted state machine (state.py), question selection (selection.py),
follow-ups with partial recovery (followups.py), scorecards (scorecard.py), SM-2 style reviews
(review.py), messages (views.py) and the service that does the I/O (service.py)."""
