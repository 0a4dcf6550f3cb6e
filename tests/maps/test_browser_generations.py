"""The planner's map of a redraw in the real browser, offline: a draft of the test city's
redraw (committed for the server to see, discarded afterwards)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from tests.maps.test_browser import browser, server, watched  # noqa: F401 - the shared fixtures

__all__ = ["browser", "server", "watched"]


@pytest.fixture()
def draft(engine, small_city) -> Iterator[int]:
    from fixtures.redraw import redraw_demo
    from geo.boundaries.drafts import discard_draft
    from geo.boundaries.export import read_areas_frame
    from geo.boundaries.generations import active_generation_id
    from geo.boundaries.redraw import import_boundaries
    from geo.models import AreaLevel

    with Session(engine) as session:
        frame = read_areas_frame(session, generation=active_generation_id(session), level=AreaLevel.grid)
        broken = redraw_demo(frame).broken
        result = import_boundaries(session, features=broken.assign(row=range(1, len(broken) + 1)), actor="test")
        session.commit()
    yield result.generation
    with Session(engine) as session:
        discard_draft(session, generation=result.generation)
        session.commit()


def test_generation_map_shows_old_new_and_problems_offline(watched, server, draft):  # noqa: F811
    page = watched.page
    page.goto(f"{server}/maps/generations/{draft}", wait_until="load")
    labels = watched.overlays()
    assert any(label.startswith("before (generation") for label in labels), labels
    assert any(label.startswith(f"after (generation {draft})") for label in labels), labels
    assert "problems" in labels
    legend = page.locator(".gm-legend").inner_text()
    assert f"generation {draft} against" in legend and "problem (" in legend
    page.wait_for_function("() => document.querySelectorAll('.leaflet-overlay-pane canvas, .leaflet-overlay-pane path').length > 0")
    watched.shot("generation-map")
    watched.check()
