"""idstitch: identity stitching for Segment-style event tables (dbt package + helper CLI)."""

__version__ = "0.1.0"
