"""Quick-response checklists at 5, 15 and 60 minutes, ack and update reminders, escalation.

(Not an incident's follow-up action items: those are part of the report.)
"""
