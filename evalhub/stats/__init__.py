"""Support-rate statistics (pure numpy/scipy; imports no Django). Specified in shared/STATS.md."""
