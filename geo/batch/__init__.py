"""Batch work over the reports archive on Dask: re-match, re-plan and aggregate off the serving database."""
