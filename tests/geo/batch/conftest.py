from __future__ import annotations

import pytest

from geo.batch.engine import batch_client


@pytest.fixture(scope="module")
def dask_client():
    """One small in-process cluster per module (two single-thread workers): the Dask path,
    scheduling, shipping and gathering, without the seconds of starting processes."""
    with batch_client(workers=2, processes=False, memory_limit=0) as client:
        yield client
