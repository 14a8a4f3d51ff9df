"""Scrapy settings for the docs spider: the one settings module.

Values that come from params.yaml or the sources profile (the user agent, the delay,
size and time limits, the cache and job folders) are set here to safe defaults and
overridden by `scraping.crawl.crawl_settings()` for each run.
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
# down and never goes below DOWNLOAD_DELAY (the profile's crawl.min_download_delay, 1 s
# for the real sites: at most one request per second per host).
CONCURRENT_REQUESTS = 16
CONCURRENT_REQUESTS_PER_DOMAIN = 4
DOWNLOAD_DELAY = 1.0
# No random ±50% on the delay: "at most one request per second" holds for every pair of
# requests, not only on average.
DOWNLOAD_DELAY_JITTER = 0.0
AUTOTHROTTLE_ENABLED = True  # as RevalidationAutoThrottle, see EXTENSIONS
AUTOTHROTTLE_START_DELAY = 1.0
AUTOTHROTTLE_MAX_DELAY = 60.0
AUTOTHROTTLE_TARGET_CONCURRENCY = 2.0
DOWNLOAD_TIMEOUT = 30
RETRY_TIMES = 2
# A request that fails after its retries is a counted URL state, not an error of the crawl.
RETRY_GIVE_UP_LOG_LEVEL = "WARNING"
DOWNLOAD_MAXSIZE = 10 * 1024 * 1024

# Our middlewares (scraping/middlewares.py) replace three of Scrapy's: the source rules
# check every redirect hop (by host *and* port, which Scrapy's offsite filter cannot), the
# robots.txt and retry middlewares count their reasons and honour Retry-After.
DOWNLOADER_MIDDLEWARES = {
    "scraping.middlewares.SourceRulesMiddleware": 40,
    "scrapy.downloadermiddlewares.offsite.OffsiteMiddleware": None,
    "scrapy.downloadermiddlewares.robotstxt.RobotsTxtMiddleware": None,
    "scraping.middlewares.ObeyRobotsMiddleware": 100,
    "scrapy.downloadermiddlewares.retry.RetryMiddleware": None,
    "scraping.middlewares.RetryAfterMiddleware": 550,
    "scraping.middlewares.CacheRevalidationMiddleware": 950,
}
REQUEST_FINGERPRINTER_CLASS = "scraping.middlewares.PublicUrlFingerprinter"
EXTENSIONS = {
    "scrapy.extensions.throttle.AutoThrottle": None,
    "scraping.middlewares.RevalidationAutoThrottle": 0,
}
# Scrapy starts this many tasks for the output of every response; our pipeline is one
# dict conversion, and the default (100) cost a third of a re-crawl's time.
CONCURRENT_ITEMS = 8

# The HTTP cache with the RFC 2616 policy: stored replies are reused while fresh and
# revalidated with If-None-Match / If-Modified-Since after that, so a re-crawl of an
# unchanged site costs 304s, not pages. crawl_settings() sets HTTPCACHE_DIR.
HTTPCACHE_ENABLED = False
HTTPCACHE_POLICY = "scrapy.extensions.httpcache.RFC2616Policy"
HTTPCACHE_STORAGE = "scraping.middlewares.PublicUrlCacheStorage"

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
