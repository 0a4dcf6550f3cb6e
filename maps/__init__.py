"""Folium map builders: take data, return maps. No SQL here."""
