"""Incidents: declaring and changing them, the card and announcements, the post-incident report.

The incident record itself (`bot.incident`) lives below every feature, since all of them read it.
"""
