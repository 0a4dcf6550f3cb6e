"""Functional departments (多部门联动): who owns which categories, their time limits and
escalation contacts (the city configuration), and the hops of a case between them."""

from geo.departments.config import Department

__all__ = ["Department"]
