"""The scrape stage: a Scrapy project that fetches documentation pages and plugin info.

`python -m scraping.scrape` is the stage; `scraping.spiders` holds the spiders,
`scraping.serve` the loopback server for the bundled sample site.
"""
