"""gridmap domain and data: models, matching, coordinates, generations. No web framework here."""
