"""Scrapy settings for the scrape stage: the one settings module.

Values that come from params.yaml (the user agent, the download delay) are set here to
safe defaults and overridden by `scraping.scrape.crawl_settings()` for each run.
"""

BOT_NAME = "wpqa"

SPIDER_MODULES = ["scraping.spiders"]
NEWSPIDER_MODULE = "scraping.spiders"

ADDONS = {}

# Crawl responsibly: say who we are (params.yaml scrape.user_agent replaces this) and
# obey robots.txt on every host, the loopback sample site included.
USER_AGENT = "wpqa/0.1 (+https://github.com/wpqa/wpqa; documentation dataset crawler)"
ROBOTSTXT_OBEY = True

# A few parallel requests per host; AutoThrottle stretches the delay when a host slows
# down and never goes below DOWNLOAD_DELAY (params.yaml scrape.download_delay).
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 1.0
AUTOTHROTTLE_ENABLED = True
AUTOTHROTTLE_START_DELAY = 1.0  # crawl_settings() sets it to the download delay
AUTOTHROTTLE_MAX_DELAY = 30.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
RETRY_TIMES = 2

# Documentation pages need no session.
COOKIES_ENABLED = False
# No listening consoles: the telnet console, and the remote-control HTTP server (new in
# Scrapy 2.19) that runs Python sent to it and writes a job file to the home folder.
TELNETCONSOLE_ENABLED = False
REMOTE_CONTROL_ENABLED = False

# Request fingerprints: Scrapy 2.19 has only the "2.7" implementation, and no longer
# reads REQUEST_FINGERPRINTER_IMPLEMENTATION, so it is not set here.

ITEM_PIPELINES = {
    "scraping.pipelines.PageRowsPipeline": 300,
}

# Progress: Scrapy's log stats line (pages and items per minute) every 10 s.
LOG_LEVEL = "INFO"
LOGSTATS_INTERVAL = 10.0

FEED_EXPORT_ENCODING = "utf-8"
