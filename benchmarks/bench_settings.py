"""Settings for the rating load benchmark: evalhub's, plus one bare insert view to compare with."""

from evalhub.settings import *  # noqa: F403

ROOT_URLCONF = "benchmarks.bench_urls"
DEBUG = False
LOGGING = {"version": 1, "disable_existing_loggers": False}
