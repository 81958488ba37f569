"""Cross-cutting pieces shared by every GX Pipeline process: settings, logging, Kafka helpers.

Kept deliberately small; anything domain-specific belongs in its own package.
"""
