"""Greenlight command line and process supervision, and the shared core every process uses
(``greenlight.core``)."""
