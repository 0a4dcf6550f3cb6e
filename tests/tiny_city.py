"""A hand-built city of four 0.01° square grids with known answers (around Beijing's centre).

    39.92 +-----------+-----------+
          |  ...001   |  ...002   |
    39.91 +-----------+-----------+
          |  ...003   |  ...004   |
    39.90 +-----------+-----------+
       116.40      116.41      116.42

Codes: city 110100, district 110101, street 110101001, community 110101001001, grids
110101001001001..004 (numbered west→east, north→south).
"""

from __future__ import annotations

from shapely.geometry import MultiPolygon, box
from sqlalchemy.orm import Session

from geo.boundaries.coverage import union_coverage
from geo.boundaries.generations import activate_generation, create_generation, rebuild_pieces
from geo.models import Area, AreaKind, AreaLevel, Assignment, AssignmentRole, Worker, WorkerRole

COMMUNITY = "110101001001"
GRIDS = {
    f"{COMMUNITY}001": (116.40, 39.91, 116.41, 39.92),
    f"{COMMUNITY}002": (116.41, 39.91, 116.42, 39.92),
    f"{COMMUNITY}003": (116.40, 39.90, 116.41, 39.91),
    f"{COMMUNITY}004": (116.41, 39.90, 116.42, 39.91),
}
FRAME = (116.40, 39.90, 116.42, 39.92)


def ewkt(bounds: tuple[float, float, float, float]) -> str:
    return "SRID=4326;" + MultiPolygon([box(*bounds)]).wkt


def add_area(session: Session, *, gen: int, code: str, level: AreaLevel, parent: str | None, bounds, name: str | None = None, households: int = 0) -> Area:
    """``bounds``: a box's (minlon, minlat, maxlon, maxlat), or a (Multi)Polygon."""
    geom = ewkt(bounds) if isinstance(bounds, tuple) else "SRID=4326;" + MultiPolygon(
        [bounds] if bounds.geom_type == "Polygon" else list(bounds.geoms)).wkt
    area = Area(
        code=code, level=level, name=name or f"{level.value} {code}", parent_code=parent,
        kind=None if level in (AreaLevel.city, AreaLevel.district) else AreaKind.urban,
        households=households, population=households * 3, geom=geom,
        generation_low=gen, generation_high=gen,
    )
    session.add(area)
    return area


def build_tiny_city(session: Session, *, activate: bool = True) -> int:
    """Insert the tiny city in a new generation (activated by default); returns its id."""
    gen = create_generation(session, description="tiny test city").id
    # Each level above the grids is their coverage union (the frame with the grids' vertices
    # on its edges) and their households' sum, as every loaded generation is.
    frame = union_coverage([box(*b) for b in GRIDS.values()])
    total = 300 * len(GRIDS)
    for code, level, parent in (("110100", AreaLevel.city, None), ("110101", AreaLevel.district, "110100"),
                                ("110101001", AreaLevel.street, "110101"),
                                (COMMUNITY, AreaLevel.community, "110101001")):
        add_area(session, gen=gen, code=code, level=level, parent=parent, bounds=frame, households=total)
    for code, bounds in GRIDS.items():
        add_area(session, gen=gen, code=code, level=AreaLevel.grid, parent=COMMUNITY, bounds=bounds, households=300)
    session.flush()
    rebuild_pieces(session, generation=gen)
    if activate:
        activate_generation(session, generation=gen)
    return gen


def add_workers(session: Session) -> dict[str, Worker]:
    """One primary per grid (the next grid's worker as backup) and a community lead."""
    workers: dict[str, Worker] = {}
    for i, code in enumerate(GRIDS, 1):
        workers[code] = Worker(
            staff_no=f"T{i:03d}", name=f"张三{i}", phone=f"1380000000{i}", public_name=f"张网格员{i}",
            role=WorkerRole.grid_worker, on_duty=i != 2,
        )
    lead = Worker(staff_no="T100", name="李四", phone="13900000000", public_name="李网格长", role=WorkerRole.community_lead)
    session.add_all([*workers.values(), lead])
    session.flush()
    codes = list(GRIDS)
    for i, code in enumerate(codes):
        session.add(Assignment(worker_id=workers[code].id, area_code=code, role=AssignmentRole.primary))
        backup = workers[codes[(i + 1) % len(codes)]]
        session.add(Assignment(worker_id=backup.id, area_code=code, role=AssignmentRole.backup, rank=1))
    session.add(Assignment(worker_id=lead.id, area_code=COMMUNITY, role=AssignmentRole.lead))
    session.flush()
    workers["lead"] = lead
    return workers


# Two functional departments for the tiny city, and their staff (add_department_staff). The
# staff numbers are the tiny city's own (TD-…), never the demo's D-…, which a loaded demo
# city in the session's database may hold.
SANITATION, ROADS = "sanitation", "roads"
DEPARTMENT_STAFF = {  # staff_no -> department
    "TD-SA-01": SANITATION, "TD-SA-02": SANITATION, "TD-SA-03": SANITATION, "TD-SA-04": SANITATION,
    "TD-RD-01": ROADS, "TD-RD-02": ROADS,
}
CITY_CENTRE = "TC-01"  # the city command centre's contact (lead of the city's code)


def tiny_departments():
    """Sanitation owns urban management (30): 6 h for exposed rubbish (3001), else 12 h; its
    desk TD-SA-01, escalation TD-SA-02 then TD-SA-03 (TD-SA-04 is a colleague at the desk).
    Roads owns road damage (3003) and safety hazards (20): 36 h for road damage, else 48 h;
    desk TD-RD-01, escalation TD-RD-02."""
    from geo.departments import Department

    return [
        Department(code=SANITATION, name_zh="环卫处", name_en="Sanitation", categories=["30"],
                   time_limits_h={"3001": 6}, default_time_limit_h=12, contact="TD-SA-01",
                   escalation=["TD-SA-02", "TD-SA-03"]),
        Department(code=ROADS, name_zh="道路处", name_en="Roads", categories=["3003", "20"],
                   time_limits_h={"3003": 36}, default_time_limit_h=48, contact="TD-RD-01", escalation=["TD-RD-02"]),
    ]


def tiny_config():
    """The packaged city configuration with the tiny city's two departments instead of the demo's."""
    from geo.cityconfig import load_city_config

    return load_city_config().model_copy(update={"departments": tiny_departments()})


def add_department_staff(session: Session) -> dict[str, Worker]:
    """The staff of ``tiny_departments`` and the city command centre's contact (lead of the
    city 110100), keyed by staff_no. No positions: they never show among nearby workers."""
    staff = {no: Worker(staff_no=no, name=f"部门{no}", phone=f"1370000{i:04d}", public_name=f"{dept}受理员{i}",
                        role=WorkerRole.grid_worker, department_code=dept)
             for i, (no, dept) in enumerate(DEPARTMENT_STAFF.items(), 1)}
    staff[CITY_CENTRE] = Worker(staff_no=CITY_CENTRE, name="指挥中心值班员", phone="13600000000",
                                public_name="市指挥中心", role=WorkerRole.city_center)
    session.add_all(staff.values())
    session.flush()
    session.add(Assignment(worker_id=staff[CITY_CENTRE].id, area_code="110100", role=AssignmentRole.lead))
    session.flush()
    return staff
