"""Spiders of the scrape stage: `docs` (HTML documentation) and `plugin_api`."""
