"""The planners' API: boundary generations — upload a redrawn level into the draft, check it,
diff it, schedule or activate it, discard it — and one area's history. Thin: every action is
``geo.boundaries.planning`` (audited) or a read of ``geo.boundaries``."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from fastapi import Path as PathParam

from api.deps import CityConfigDep, SessionDep
from api.params import CodePath
from api.schemas.generations import (
    ActivateIn, ActivationOut, AssignmentsOut, GenerationList, GenerationOut, ImportOut,
)
from api.security import require
from geo.access import Permission
from geo.boundaries.activation import Activation
from geo.boundaries.checks import check_generation
from geo.boundaries.diffs import diff_generations
from geo.boundaries.generations import active_generation_id, resolve_generation
from geo.boundaries.hierarchy import AreaLevel
from geo.boundaries.history import area_history, generation_history
from geo.boundaries.planning import activate, assign_file, discard, import_file
from geo.boundaries.reading import FieldMap
from geo.errors import InvalidInput


router = APIRouter(tags=["boundaries"])


def utcnow() -> datetime:
    return datetime.now(UTC)


Planner = require(Permission.change_boundaries)
Assigner = require(Permission.change_assignments)
SUFFIXES = (".gpkg", ".geojson", ".json", ".zip", ".parquet", ".geoparquet")
GenerationPath = Annotated[int, PathParam(ge=1, le=2**31 - 1, examples=[2], description="A boundary generation's id.")]
FormatQuery = Annotated[str, Query(pattern="^(json|geojson)$", examples=["geojson"], description=(
    "json (the report) or geojson (the locations, to open in QGIS)."))]
ERRORS = {404: {"description": "No such generation"}, 409: {"description": "Not the draft, or refused"},
          422: {"description": "Bad file or field (every problem listed)"}}


@router.get("/generations", response_model=GenerationList, summary="Boundary generations, newest first")
def list_generations(session: SessionDep, _: Planner):
    """Every generation with its status, who imported and activated it, and its counts."""
    return {"generations": generation_history(session)}


@router.post("/generations", response_model=ImportOut, status_code=201, responses=ERRORS,
             summary="Upload a redrawn level into the draft")
def post_generation(
    session: SessionDep, principal: Planner,
    file: Annotated[UploadFile, File(description="GeoPackage, GeoJSON, zipped Shapefile or GeoParquet.")],
    level: Annotated[AreaLevel, Form(description="grid, community or street.")] = AreaLevel.grid,
    layer: Annotated[str | None, Form(max_length=200, description="The layer to read, when the file has several.")] = None,
    fields: Annotated[list[str] | None, Form(description="target=field pairs, e.g. code=WGBM.")] = None,
    crs: Annotated[str | None, Form(max_length=40, description="wgs84, cgcs2000, gcj02, bd09 or EPSG:<code>.")] = None,
    whole_level: Annotated[bool, Form(description=(
        "Replace the whole level; default: only the parents the file touches."))] = False,
    description: Annotated[str | None, Form(max_length=500, description="What this redraw is, for the history.")] = None,
):
    """The same import as `gridmap boundaries import`: the draft is created from the active
    generation when there is none; a bad file changes nothing (422 lists every problem)."""
    suffix = Path(file.filename or "").suffix.lower()
    if suffix not in SUFFIXES:
        raise InvalidInput(f"file: {file.filename!r} is not one of {', '.join(SUFFIXES)}", field="file")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"upload{suffix}"
        path.write_bytes(file.file.read())
        result = import_file(session, path=path, actor=principal, level=level, layer=layer,
                             fields=FieldMap.parse(fields or []), crs=crs, whole_level=whole_level,
                             description=description)
    session.commit()
    return ImportOut(generation=result.generation, level=result.level, scope=result.scope, added=result.added,
                     removed=result.removed, redrawn=result.redrawn, kept=result.kept, numbered=result.numbered,
                     noise_cleaned=result.noise_cleaned, estimated=result.estimated, findings=len(result.findings))


@router.post("/generations/{generation}/assignments", response_model=AssignmentsOut, status_code=201, responses=ERRORS,
             summary="Plan who answers for the draft's grids")
def post_assignments(
    session: SessionDep, principal: Assigner, generation: GenerationPath,
    file: Annotated[UploadFile, File(description="CSV with columns grid_code, worker_id (id or staff number), role "
                                                 "(primary, backup, lead), optional rank.")],
):
    """The same as `gridmap workers assign FILE`: applied when the draft is activated; a bad
    row changes nothing (422 lists every row)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "assignments.csv"
        path.write_bytes(file.file.read())
        n = assign_file(session, path=path, actor=principal, generation=generation)
    session.commit()
    return AssignmentsOut(generation=generation, planned=n)


@router.get("/generations/{generation}", response_model=GenerationOut, responses=ERRORS, summary="One generation")
def get_generation(session: SessionDep, _: Planner, generation: GenerationPath):
    return generation_history(session, generation=generation)[0]


@router.get("/generations/{generation}/check", response_model=dict[str, Any], responses=ERRORS,
            summary="What is wrong with a generation's drawing")
def get_check(session: SessionDep, config: CityConfigDep, _: Planner, generation: GenerationPath,
              format: FormatQuery = "json"):
    """Errors (blocking activation) and warnings; ``format=geojson``: the problem locations."""
    resolve_generation(session, generation=generation)  # 404 for an unknown id
    report = check_generation(session, generation=generation, households_range=config.grid_households_range)
    return report.as_geojson() if format == "geojson" else report.as_json()


@router.get("/generations/{generation}/diff", response_model=dict[str, Any], responses=ERRORS,
            summary="What a generation changes against the active one")
def get_diff(session: SessionDep, config: CityConfigDep, _: Planner, generation: GenerationPath,
             format: FormatQuery = "json"):
    """Areas added/removed/reshaped/renamed/reparented, households moved, open cases that
    change grid and worker, grids without a worker, workers' load before and after."""
    resolve_generation(session, generation=generation)
    diff = diff_generations(session, old=active_generation_id(session), new=generation, config=config, now=utcnow())
    return diff.as_geojson() if format == "geojson" else diff.as_json()


@router.post("/generations/{generation}/activate", response_model=ActivationOut, responses=ERRORS,
             summary="Activate the draft now, or schedule it")
def post_activate(session: SessionDep, config: CityConfigDep, principal: Planner, generation: GenerationPath, body: ActivateIn):
    """Refused (409) when the check has errors or grids have no worker (unless ``lead_covers``)."""
    result = activate(session, actor=principal, config=config, now=utcnow(), at=body.at,
                      lead_covers=body.lead_covers, generation=generation)
    session.commit()
    if isinstance(result, Activation):
        return ActivationOut(generation=result.generation, status="active", previous=result.previous,
                             open_cases_moved=result.moved)
    return ActivationOut(generation=result.id, status="scheduled", scheduled_at=result.scheduled_at)


@router.delete("/generations/{generation}", status_code=204, responses=ERRORS, summary="Discard the draft")
def delete_generation(session: SessionDep, principal: Planner, generation: GenerationPath):
    discard(session, actor=principal, generation=generation)
    session.commit()


@router.get("/grids/{code}/history", response_model=dict[str, Any], responses={404: {"description": "Unknown code"}},
            summary="One area's versions, lineage and successors", tags=["grids"])
def get_area_history(session: SessionDep, code: CodePath):
    """Public: every version of the code across generations (households, area), what each
    was drawn from, and for a retired code the current areas that succeeded it."""
    return area_history(session, code=code)
