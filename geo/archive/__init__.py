"""The reports archive: GeoParquet, hive-partitioned by month, for batch work off the serving database."""
