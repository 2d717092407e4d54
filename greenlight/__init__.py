"""Greenlight command line and process supervision."""
