"""OGC SensorThings API v1.1 Part 1 — the entity model, URL paths, query options and JSON shapes.

This file knows the standard: which entity sets exist, their properties and navigation properties,
how a resource path (``Things(1)/Datastreams``) and the query options (``$filter``, ``$expand`` …)
become SQL, and how a row becomes SensorThings JSON with ``@iot.selfLink`` and navigation links.
Writes live in ``service.py``; HTTP in ``api.py``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from odata_query import ast as oast
from odata_query import exceptions as oexc
from odata_query import grammar as ogrammar
from sqlalchemy.orm import Session

from smartprovince.core.errors import BadRequest, NotFound
from smartprovince.core.security import Actor
from smartprovince.sensing.models import (
    Datastream,
    FeatureOfInterest,
    HistoricalLocation,
    Location,
    Observation,
    ObservedProperty,
    Sensor,
    Thing,
)

# SensorThings keeps the OData 3 string function ``substringof(needle, haystack)``.
ogrammar.ODATA_FUNCTIONS.setdefault("substringof", 2)
# The geospatial functions of SensorThings v1.1 Part 1 (OData's geo.* are in the grammar already).
SPATIAL_RELATIONS = ("st_equals", "st_disjoint", "st_touches", "st_within", "st_overlaps", "st_crosses",
                     "st_intersects", "st_contains")
for _name in SPATIAL_RELATIONS:
    ogrammar.ODATA_FUNCTIONS.setdefault(_name, 2)
ogrammar.ODATA_FUNCTIONS.setdefault("st_relate", 3)
GEOMETRY_ATTRS = ("location", "feature", "observed_area")
"""Columns holding GeoJSON geometries (Location.location, FeatureOfInterest.feature, Datastream.observedArea)."""
MAX_GEO_ROWS = 200_000

READ_ALL = "sensing.station.read"
"""Officers holding this permission also see stations that are not public."""

DEFAULT_TOP = 100
MAX_TOP = 10000


@dataclass(frozen=True)
class Nav:
    """A navigation property: ``name`` in JSON, the target entity set, the ORM attribute, to-many or not."""

    name: str
    target: str
    attr: str
    many: bool
    reverse: str  # the ORM attribute on the target that points back


@dataclass(frozen=True)
class EntitySet:
    """One SensorThings entity set (``Things``) with its properties (JSON name → ORM attribute)."""

    name: str
    singular: str
    model: Any
    props: dict[str, str]
    navs: dict[str, Nav] = field(default_factory=dict)


def _sets() -> dict[str, EntitySet]:
    common = {"name": "name", "description": "description", "properties": "properties"}
    return {
        "Things": EntitySet("Things", "Thing", Thing, dict(common), {
            "Locations": Nav("Locations", "Locations", "locations", True, "things"),
            "HistoricalLocations": Nav("HistoricalLocations", "HistoricalLocations", "historical_locations", True,
                                       "thing"),
            "Datastreams": Nav("Datastreams", "Datastreams", "datastreams", True, "thing"),
        }),
        "Locations": EntitySet("Locations", "Location", Location, {
            **common, "encodingType": "encoding_type", "location": "location"}, {
            "Things": Nav("Things", "Things", "things", True, "locations"),
            "HistoricalLocations": Nav("HistoricalLocations", "HistoricalLocations", "historical_locations", True,
                                       "locations"),
        }),
        "HistoricalLocations": EntitySet("HistoricalLocations", "HistoricalLocation", HistoricalLocation,
                                         {"time": "time"}, {
            "Thing": Nav("Thing", "Things", "thing", False, "historical_locations"),
            "Locations": Nav("Locations", "Locations", "locations", True, "historical_locations"),
        }),
        "Datastreams": EntitySet("Datastreams", "Datastream", Datastream, {
            **common, "observationType": "observation_type", "unitOfMeasurement": "unit_of_measurement",
            "observedArea": "observed_area", "phenomenonTime": "phenomenon_start", "resultTime": "result_start"}, {
            "Thing": Nav("Thing", "Things", "thing", False, "datastreams"),
            "Sensor": Nav("Sensor", "Sensors", "sensor", False, "datastreams"),
            "ObservedProperty": Nav("ObservedProperty", "ObservedProperties", "observed_property", False,
                                    "datastreams"),
            "Observations": Nav("Observations", "Observations", "observations", True, "datastream"),
        }),
        "Sensors": EntitySet("Sensors", "Sensor", Sensor, {
            **common, "encodingType": "encoding_type", "metadata": "sensor_metadata"}, {
            "Datastreams": Nav("Datastreams", "Datastreams", "datastreams", True, "sensor"),
        }),
        "ObservedProperties": EntitySet("ObservedProperties", "ObservedProperty", ObservedProperty, {
            **common, "definition": "definition"}, {
            "Datastreams": Nav("Datastreams", "Datastreams", "datastreams", True, "observed_property"),
        }),
        "Observations": EntitySet("Observations", "Observation", Observation, {
            "phenomenonTime": "phenomenon_time", "resultTime": "result_time", "result": "result_number",
            "resultQuality": "result_quality", "validTime": "valid_start", "parameters": "parameters"}, {
            "Datastream": Nav("Datastream", "Datastreams", "datastream", False, "observations"),
            "FeatureOfInterest": Nav("FeatureOfInterest", "FeaturesOfInterest", "feature_of_interest", False,
                                     "observations"),
        }),
        "FeaturesOfInterest": EntitySet("FeaturesOfInterest", "FeatureOfInterest", FeatureOfInterest, {
            **common, "encodingType": "encoding_type", "feature": "feature"}, {
            "Observations": Nav("Observations", "Observations", "observations", True, "feature_of_interest"),
        }),
    }


SETS: dict[str, EntitySet] = _sets()
BY_MODEL: dict[Any, EntitySet] = {es.model: es for es in SETS.values()}


# ------------------------------------------------------------------------------------------ times


def iso(value: datetime | None) -> str | None:
    """A UTC instant as ISO 8601 with ``Z`` (SensorThings' time format)."""
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def interval(start: datetime | None, end: datetime | None) -> str | None:
    """An instant, or ``start/end`` when the two differ."""
    if start is None:
        return None
    if end is None or end == start:
        return iso(start)
    return f"{iso(start)}/{iso(end)}"


DATE_THEN_T = re.compile(r"\d{4}(?:-\d{2}-\d{2}|\d{4}|-W\d{2}(?:-\d)?|W\d{2}\d?)T")
"""Matches a text that starts with an ISO 8601 date (calendar or week form) followed by ``T``.
``datetime.fromisoformat`` accepts any one character between the date and the time
(``2026-03-01X00:00:00Z``); ISO 8601 and SensorThings allow only ``T``."""


def parse_time(value: Any, what: str) -> datetime:
    """Parse an ISO 8601 instant; naive times are refused (SensorThings times carry a zone)."""
    if not isinstance(value, str):
        raise BadRequest(f"{what} must be an ISO 8601 time string.")
    text = value.strip()
    if DATE_THEN_T.match(text) is None:
        raise BadRequest(f"{what} is not an ISO 8601 time (date, 'T', time, zone): {value!r}.")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise BadRequest(f"{what} is not an ISO 8601 time: {value!r}.") from None
    if parsed.tzinfo is None:
        raise BadRequest(f"{what} must carry a time zone (for example 2026-03-01T08:00:00+07:00 or …Z).")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise BadRequest(f"{what} is out of range: {value!r}.") from None


def parse_interval(value: Any, what: str) -> tuple[datetime, datetime | None]:
    """Parse ``instant`` or ``start/end``."""
    if isinstance(value, str) and "/" in value:
        a, _, b = value.partition("/")
        start, end = parse_time(a, what), parse_time(b, what)
        if end < start:
            raise BadRequest(f"{what}: the end of the interval is before its start.")
        return start, end
    return parse_time(value, what), None


# ------------------------------------------------------------------------------------------ paths


@dataclass
class Segment:
    """One step of a resource path: an entity set or navigation property, maybe with an id."""

    name: str
    id: int | None = None


@dataclass
class ResourcePath:
    """A parsed resource path: the navigation ``segments``, then maybe a property, ``$value`` or ``$ref``."""

    segments: list[Segment]
    entity_set: EntitySet
    single: bool  # the path ends on one entity (an id, or a to-one navigation)
    property: str | None = None
    value: bool = False
    ref: bool = False


_SEG = re.compile(r"^([A-Za-z]+)(?:\((.*)\))?$")


def parse_path(path: str) -> ResourcePath:
    """Parse ``Things(1)/Datastreams`` (no leading ``/sta/v1.1``) or raise ``NotFound``."""
    parts = [p for p in path.strip("/").split("/") if p]
    if not parts:
        raise NotFound("Empty resource path.")
    segments: list[Segment] = []
    es: EntitySet | None = None
    single = False
    result: ResourcePath | None = None
    for index, part in enumerate(parts):
        if result is not None:
            if part == "$value" and result.property and not result.value:
                result.value = True
                continue
            raise NotFound(f"Unknown path segment {part!r}.")
        if part == "$ref" and es is not None and index == len(parts) - 1:
            result = ResourcePath(segments, es, single, ref=True)
            continue
        m = _SEG.match(part)
        if not m:
            raise NotFound(f"Unknown path segment {part!r}.")
        name, raw_id = m.group(1), m.group(2)
        ident = _parse_id(raw_id) if raw_id is not None else None
        if es is None:
            if name not in SETS:
                raise NotFound(f"No entity set named {name!r}.")
            es = SETS[name]
            single = ident is not None
        else:
            if not single:
                raise NotFound(f"{part!r} must follow a single entity, for example Things(1)/{part}.")
            if name in es.navs:
                nav = es.navs[name]
                es = SETS[nav.target]
                single = (not nav.many) or ident is not None
                if not nav.many and ident is not None:
                    raise NotFound(f"{name} is a single entity; it takes no id.")
            elif name in es.props and raw_id is None:
                result = ResourcePath(segments, es, True, property=name)
                continue
            elif name == "id" and raw_id is None:
                result = ResourcePath(segments, es, True, property="id")
                continue
            else:
                raise NotFound(f"{es.singular} has no property or navigation {name!r}.")
        segments.append(Segment(name, ident))
    if es is None:
        raise NotFound("Empty resource path.")
    return result or ResourcePath(segments, es, single)


def _parse_id(raw: str) -> int:
    raw = raw.strip()
    if raw.startswith("'") and raw.endswith("'"):
        raw = raw[1:-1]
    try:
        value = int(raw)
    except ValueError:
        raise NotFound(f"No entity with id {raw!r}.") from None
    if value < 0 or value > 2**62:
        raise NotFound(f"No entity with id {raw!r}.")
    return value


def path_condition(path_segments: list[Segment], actor: Actor | None) -> tuple[EntitySet, list[Any]]:
    """The entity set a path ends on and the SQL conditions that select its rows."""
    # Walk from the first segment, keeping a condition on the current set; each navigation step
    # turns "rows of A matching cond" into "rows of B whose back-reference to A matches cond".
    first = path_segments[0]
    es = SETS[first.name]
    conds: list[Any] = []
    if first.id is not None:
        conds.append(es.model.id == first.id)
    for seg in path_segments[1:]:
        nav = es.navs[seg.name]
        target = SETS[nav.target]
        back = getattr(target.model, nav.reverse)
        inner = sa.and_(*conds) if conds else sa.true()
        back_is_many = getattr(target.model, nav.reverse).property.uselist
        conds = [back.any(inner) if back_is_many else back.has(inner)]
        if seg.id is not None:
            conds.append(target.model.id == seg.id)
        es = target
    conds.extend(visibility(es, actor))
    return es, conds


def visibility(es: EntitySet, actor: Actor | None) -> list[Any]:
    """Conditions that hide stations which are not public from callers without ``sensing.station.read``."""
    if actor is not None and actor.has(READ_ALL):
        return []
    public_thing = Thing.is_public.is_(True)
    if es.model is Thing:
        return [public_thing]
    if es.model is Datastream:
        return [Datastream.thing.has(public_thing)]
    if es.model is Observation:
        return [Observation.datastream.has(Datastream.thing.has(public_thing))]
    if es.model is HistoricalLocation:
        return [HistoricalLocation.thing.has(public_thing)]
    if es.model is Location:
        return [sa.or_(Location.things.any(public_thing), ~Location.things.any())]
    return []


# ------------------------------------------------------------------------------------------ $filter


class _Json:
    """A path inside a JSON column (``properties/owner``); typed once the other operand is known."""

    def __init__(self, column: Any, keys: list[str]):
        self.column, self.keys = column, keys

    def typed(self, kind: str) -> Any:
        expr = self.column[tuple(self.keys)] if len(self.keys) > 1 else self.column[self.keys[0]]
        if kind == "number":
            return expr.as_float()
        if kind == "bool":
            return expr.as_boolean()
        return expr.as_string()


@dataclass
class _Val:
    """An operand: a SQL expression or a Python literal, the navigation path it needs, and its kind."""

    expr: Any
    path: tuple[str, ...] = ()
    kind: str = "any"  # number, string, time, bool, null, any
    literal: bool = False


class FilterBuilder:
    """Turns an OData ``$filter`` AST into a SQLAlchemy condition on one entity set."""

    def __init__(self, es: EntitySet, dialect: str, session: Session | None = None, variable: str | None = None):
        self.es = es
        self.dialect = dialect
        # Geospatial functions are evaluated in Python (shapely) over the geometry rows, which needs a
        # session; ``variable`` is the lambda variable (``d`` in ``Datastreams/any(d: d/name eq 'x')``).
        self.session = session
        self.variable = variable

    def build(self, text: str) -> Any:
        try:
            tree = ogrammar.ODataParser().parse(ogrammar.ODataLexer().tokenize(text))
        except (oexc.ODataException, ValueError, TypeError, IndexError) as exc:
            raise BadRequest(f"$filter cannot be parsed: {exc}") from None
        if tree is None:
            raise BadRequest("$filter is empty.")
        return self._bool(tree)

    # --- boolean expressions (each already wrapped in its navigation path)

    def _bool(self, node: Any) -> Any:
        if isinstance(node, oast.BoolOp):
            left, right = self._bool(node.left), self._bool(node.right)
            return sa.and_(left, right) if isinstance(node.op, oast.And) else sa.or_(left, right)
        if isinstance(node, oast.UnaryOp) and isinstance(node.op, oast.Not):
            return sa.not_(self._bool(node.operand))
        if isinstance(node, oast.Compare):
            return self._compare(node)
        if isinstance(node, oast.Call):
            v = self._call(node)
            if v.kind != "bool":
                raise BadRequest(f"{node.func.name}() does not give true or false.")
            return self._wrap(v.expr, v.path)
        if isinstance(node, oast.Boolean):
            return sa.true() if node.py_val else sa.false()
        if isinstance(node, oast.CollectionLambda):
            return self._lambda(node)
        if isinstance(node, oast.Identifier | oast.Attribute):
            v = self._operand(node)
            return self._wrap(self._as(v, "bool") == sa.true(), v.path)
        raise BadRequest(f"Unsupported expression in $filter: {type(node).__name__}.")

    def _wrap(self, cond: Any, path: tuple[str, ...]) -> Any:
        """Wrap ``cond`` (on the path's last entity) in ``has``/``any`` back to the root entity set."""
        chain: list[tuple[Any, Nav]] = []
        es = self.es
        for name in path:
            nav = es.navs[name]
            chain.append((es, nav))
            es = SETS[nav.target]
        for owner, nav in reversed(chain):
            rel = getattr(owner.model, nav.attr)
            cond = rel.any(cond) if nav.many else rel.has(cond)
        return cond

    def _lambda(self, node: Any) -> Any:
        """``Datastreams/any(d: d/name eq 'x')`` and ``all(…)`` over a to-many navigation path."""
        names: list[str] = []
        owner = node.owner
        while isinstance(owner, oast.Attribute):
            names.append(owner.attr)
            owner = owner.owner
        if not isinstance(owner, oast.Identifier) or owner.namespace:
            raise BadRequest("any()/all() must follow a navigation path, for example Datastreams/any(d: …).")
        names.append(owner.name)
        names.reverse()
        if self.variable is not None and names[0] == self.variable:
            names = names[1:]
        es = self.es
        chain: list[tuple[EntitySet, Nav]] = []
        for name in names:
            nav = es.navs.get(name)
            if nav is None:
                raise BadRequest(f"{es.singular} has no navigation property {name!r}.")
            chain.append((es, nav))
            es = SETS[nav.target]
        last_owner, last = chain[-1]
        if not last.many:
            raise BadRequest(f"any()/all() needs a collection; {last.name} is a single entity.")
        rel = getattr(last_owner.model, last.attr)
        if node.lambda_ is None:  # Datastreams/any(): the collection is not empty
            cond = rel.any()
        else:
            inner = FilterBuilder(es, self.dialect, self.session, node.lambda_.identifier.name)
            body = inner._bool(node.lambda_.expression)
            cond = rel.any(body) if isinstance(node.operator, oast.Any) else ~rel.any(sa.not_(body))
        for owner_es, nav in reversed(chain[:-1]):
            outer = getattr(owner_es.model, nav.attr)
            cond = outer.any(cond) if nav.many else outer.has(cond)
        return cond

    # --- geospatial functions: evaluated with shapely over the rows that hold a geometry

    def _geo_rows(self, v: _Val) -> tuple[Any, list[tuple[int, Any]]]:
        """The model owning geometry operand ``v`` and its (id, shape) pairs (rows without geometry skipped)."""
        from shapely.geometry import shape

        if v.literal or not hasattr(v.expr, "key") or v.expr.key not in GEOMETRY_ATTRS:
            raise BadRequest("A geospatial function needs a geometry property (location, feature or observedArea) "
                             "and a geography'…' literal.")
        if self.session is None:
            raise BadRequest("Geospatial functions are not available here.")
        model = v.expr.class_
        stmt = sa.select(model.id, v.expr).where(v.expr.is_not(None)).limit(MAX_GEO_ROWS + 1)
        rows = self.session.execute(stmt).all()
        if len(rows) > MAX_GEO_ROWS:
            raise BadRequest("Too many geometries for a geospatial filter on this server.")
        out: list[tuple[int, Any]] = []
        for row in rows:
            ident: int = row[0]
            geo: Any = row[1]
            try:
                out.append((ident, shape(geo.get("geometry", geo) if geo.get("type") == "Feature" else geo)))
            except (AttributeError, TypeError, ValueError, KeyError):
                continue  # not GeoJSON (another encodingType): never matches, as in FROST-Server
        return model, out

    @staticmethod
    def _geo_literal(v: _Val) -> Any:
        if not v.literal or v.kind != "geo":
            raise BadRequest("A geospatial function needs a geography'…' literal as its other argument.")
        return v.expr

    def _geo_ids(self, name: str, args: list[_Val]) -> tuple[Any, set[int]]:
        """For a spatial relation call: the model and the ids of its rows for which it holds."""
        import shapely

        geom_arg, lit_arg = (args[0], args[1]) if not args[0].literal else (args[1], args[0])
        if name == "st_within" and args[0].literal:
            name = "st_contains"  # st_within(literal, column) = the column contains the literal
        elif name == "st_contains" and args[0].literal:
            name = "st_within"
        literal = self._geo_literal(lit_arg)
        model, rows = self._geo_rows(geom_arg)
        if name == "st_relate":
            if len(args) != 3 or not args[2].literal or not isinstance(args[2].expr, str):
                raise BadRequest("st_relate needs a geometry, a geography'…' literal and a DE-9IM pattern text.")
            pattern = args[2].expr
            if not re.fullmatch(r"[TF012*]{9}", pattern):
                raise BadRequest("The DE-9IM pattern of st_relate has 9 characters of T, F, 0, 1, 2, *.")
            return model, {i for i, g in rows if shapely.relate_pattern(g, literal, pattern)}
        test = {"geo.intersects": "intersects", "st_intersects": "intersects", "st_equals": "equals",
                "st_disjoint": "disjoint", "st_touches": "touches", "st_within": "within",
                "st_overlaps": "overlaps", "st_crosses": "crosses", "st_contains": "contains"}[name]
        return model, {i for i, g in rows if getattr(g, test)(literal)}

    def _geo_compare(self, call: Any, op: str, number: float) -> Any:
        """``geo.distance(location, geography'POINT(…)') lt 0.01`` / ``geo.length(…) gt 100``: ids that match."""
        args = [self._operand(a) for a in call.args]
        path = self._merge_paths(*args)
        name = call.func.full_name()
        if name == "geo.distance":
            if len(args) != 2:
                raise BadRequest("geo.distance needs two arguments.")
            geom_arg, lit_arg = (args[0], args[1]) if not args[0].literal else (args[1], args[0])
            literal = self._geo_literal(lit_arg)
            model, rows = self._geo_rows(geom_arg)
            values = [(i, g.distance(literal)) for i, g in rows]
        else:
            model, rows = self._geo_rows(args[0])
            values = [(i, g.length) for i, g in rows]
        keep = {i for i, value in values if getattr(value, op)(number)}
        return self._wrap(model.id.in_(sorted(keep)), path)

    def _compare(self, node: Any) -> Any:
        for call, other, flip in ((node.left, node.right, False), (node.right, node.left, True)):
            if isinstance(call, oast.Call) and call.func.full_name() in ("geo.distance", "geo.length"):
                number = self._operand(other)
                if not number.literal or number.kind != "number":
                    raise BadRequest(f"{call.func.full_name()} is compared with a number.")
                ops = {oast.Eq: "__eq__", oast.NotEq: "__ne__", oast.Lt: "__lt__", oast.LtE: "__le__",
                       oast.Gt: "__gt__", oast.GtE: "__ge__"}
                op = ops.get(type(node.comparator))
                if op is None:
                    raise BadRequest("Unsupported comparison in $filter.")
                if flip:  # 0.5 gt geo.distance(…)  ==  geo.distance(…) lt 0.5
                    op = {"__lt__": "__gt__", "__gt__": "__lt__", "__le__": "__ge__", "__ge__": "__le__"}.get(op, op)
                return self._geo_compare(call, op, float(number.expr))
        left, right = self._operand(node.left), self._operand(node.right)
        path = self._merge_paths(left, right)
        if isinstance(node.comparator, oast.In):
            if not isinstance(right.expr, list):
                raise BadRequest("'in' needs a list: id in (1, 2).")
            return self._wrap(self._as(left, right.kind).in_(right.expr), path)
        kind = right.kind if left.kind in ("any",) else left.kind
        if right.kind == "null" or left.kind == "null":
            other = left if right.kind == "null" else right
            col = self._as(other, "any")
            if isinstance(node.comparator, oast.Eq):
                return self._wrap(col.is_(None), path)
            if isinstance(node.comparator, oast.NotEq):
                return self._wrap(col.is_not(None), path)
            raise BadRequest("null can only be compared with eq or ne.")
        a, b = self._as(left, kind), self._as(right, kind)
        ops = {oast.Eq: "__eq__", oast.NotEq: "__ne__", oast.Lt: "__lt__", oast.LtE: "__le__", oast.Gt: "__gt__",
               oast.GtE: "__ge__"}
        op = ops.get(type(node.comparator))
        if op is None:
            raise BadRequest("Unsupported comparison in $filter.")
        if left.literal and right.literal:
            return sa.true() if getattr(left.expr, op)(right.expr) else sa.false()
        if left.literal:
            a = sa.literal(left.expr)
        return self._wrap(getattr(a, op)(b), path)

    @staticmethod
    def _merge_paths(*vals: _Val) -> tuple[str, ...]:
        paths = {v.path for v in vals if v.path}
        if len(paths) > 1:
            raise BadRequest("$filter may compare values of one related entity at a time.")
        return paths.pop() if paths else ()

    def _as(self, v: _Val, kind: str) -> Any:
        if isinstance(v.expr, _Json):
            return v.expr.typed(kind)
        return v.expr

    # --- operands

    def _operand(self, node: Any) -> _Val:
        if isinstance(node, oast.Null):
            return _Val(None, kind="null", literal=True)
        if isinstance(node, oast.Integer | oast.Float):
            return _Val(node.py_val, kind="number", literal=True)
        if isinstance(node, oast.String):
            return _Val(node.py_val, kind="string", literal=True)
        if isinstance(node, oast.Boolean):
            return _Val(node.py_val, kind="bool", literal=True)
        if isinstance(node, oast.DateTime):
            value = node.py_val
            if value.tzinfo is None:
                value = value.replace(tzinfo=UTC)
            return _Val(value.astimezone(UTC), kind="time", literal=True)
        if isinstance(node, oast.Date):
            d = node.py_val
            return _Val(datetime(d.year, d.month, d.day, tzinfo=UTC), kind="time", literal=True)
        if isinstance(node, oast.Geography):
            import shapely.wkt
            from shapely.errors import ShapelyError

            try:
                return _Val(shapely.wkt.loads(node.val), kind="geo", literal=True)
            except (ShapelyError, ValueError, TypeError):
                raise BadRequest(f"geography'{node.val[:80]}' is not valid WKT.") from None
        if isinstance(node, oast.List):
            return _Val([self._operand(x).expr for x in node.val], kind="list", literal=True)
        if isinstance(node, oast.Identifier | oast.Attribute):
            return self._property(node)
        if isinstance(node, oast.BinOp):
            return self._arith(node)
        if isinstance(node, oast.Call):
            return self._call(node)
        raise BadRequest(f"Unsupported operand in $filter: {type(node).__name__}.")

    def _property(self, node: Any) -> _Val:
        names: list[str] = []
        while isinstance(node, oast.Attribute):
            names.append(node.attr)
            node = node.owner
        if not isinstance(node, oast.Identifier) or node.namespace:
            raise BadRequest("Unsupported property path in $filter.")
        names.append(node.name)
        names.reverse()
        if self.variable is not None and names[0] == self.variable:
            names = names[1:]
            if not names:
                raise BadRequest(f"$filter: {self.variable} is an entity, not a value; add a property.")
        es = self.es
        path: list[str] = []
        i = 0
        while i < len(names) and names[i] in es.navs:
            path.append(names[i])
            es = SETS[es.navs[names[i]].target]
            i += 1
        rest = names[i:]
        if not rest:
            raise BadRequest(f"$filter: {'/'.join(names)} is an entity, not a value; add a property.")
        prop, keys = rest[0], rest[1:]
        col, kind = property_column(es, prop)
        if keys:
            if prop not in ("properties", "parameters", "unitOfMeasurement", "resultQuality", "feature", "location",
                            "metadata"):
                raise BadRequest(f"$filter: {prop} has no sub-properties.")
            return _Val(_Json(col, keys), tuple(path), kind="any")
        return _Val(col, tuple(path), kind=kind)

    def _arith(self, node: Any) -> _Val:
        left, right = self._operand(node.left), self._operand(node.right)
        path = self._merge_paths(left, right)
        a = sa.literal(left.expr) if left.literal else self._as(left, "number")
        b = right.expr if right.literal else self._as(right, "number")
        if isinstance(node.op, oast.Add):
            expr = a + b
        elif isinstance(node.op, oast.Sub):
            expr = a - b
        elif isinstance(node.op, oast.Mult):
            expr = a * b
        elif isinstance(node.op, oast.Div):
            expr = sa.cast(a, sa.Float) / b
        elif isinstance(node.op, oast.Mod):
            # PostgreSQL has no % for double precision; numeric modulo works on both.
            expr = a % b if self.dialect == "sqlite" else sa.func.mod(sa.cast(a, sa.Numeric), sa.cast(b, sa.Numeric))
        else:
            raise BadRequest("Unsupported arithmetic operator in $filter.")
        return _Val(expr, path, kind="number")

    def _call(self, node: Any) -> _Val:
        name = node.func.full_name()
        args = [self._operand(a) for a in node.args]
        path = self._merge_paths(*args) if args else ()
        if name in SPATIAL_RELATIONS or name in ("st_relate", "geo.intersects"):
            model, ids = self._geo_ids(name, args)
            return _Val(model.id.in_(sorted(ids)), path, kind="bool")
        if name in ("geo.distance", "geo.length"):
            raise BadRequest(f"{name}() can only be compared with a number, for example {name}(…) lt 0.01.")

        def s(i: int) -> Any:
            v = args[i]
            return sa.literal(v.expr) if v.literal else self._as(v, "string")

        def n(i: int) -> Any:
            v = args[i]
            return sa.literal(v.expr) if v.literal else self._as(v, "number")

        if name in ("contains", "substringof", "startswith", "endswith"):
            hay, needle = (args[1], args[0]) if name == "substringof" else (args[0], args[1])
            hay_expr = sa.literal(hay.expr) if hay.literal else self._as(hay, "string")
            if needle.literal:
                method = {"startswith": "startswith", "endswith": "endswith"}.get(name, "contains")
                return _Val(getattr(hay_expr, method)(str(needle.expr), autoescape=True), path, kind="bool")
            raise BadRequest(f"{name}() needs a text literal to search for.")
        if name == "length":
            return _Val(sa.func.length(s(0)), path, kind="number")
        if name == "indexof":
            fn = sa.func.instr(s(0), s(1)) if self.dialect == "sqlite" else sa.func.strpos(s(0), s(1))
            return _Val(fn - 1, path, kind="number")
        if name == "substring":
            if len(args) == 3:
                return _Val(sa.func.substr(s(0), n(1) + 1, n(2)), path, kind="string")
            return _Val(sa.func.substr(s(0), n(1) + 1), path, kind="string")
        if name == "tolower":
            return _Val(sa.func.lower(s(0)), path, kind="string")
        if name == "toupper":
            return _Val(sa.func.upper(s(0)), path, kind="string")
        if name == "trim":
            return _Val(sa.func.trim(s(0)), path, kind="string")
        if name == "concat":
            return _Val(sa.func.concat(s(0), s(1)) if self.dialect != "sqlite" else s(0).op("||")(s(1)), path,
                        kind="string")
        if name in ("year", "month", "day", "hour", "minute", "second"):
            if args[0].literal:
                return _Val(getattr(args[0].expr, name), kind="number", literal=True)
            return _Val(sa.cast(sa.extract(name, self._as(args[0], "time")), sa.Integer), path, kind="number")
        if name == "fractionalseconds":
            return _Val(sa.literal(0.0), path, kind="number")
        if name == "totaloffsetminutes":
            return _Val(sa.literal(0), path, kind="number")
        if name == "now":
            from smartprovince.core import clock

            return _Val(clock.now(), kind="time", literal=True)
        if name == "mindatetime":
            return _Val(self._span(args, sa.func.min), path, kind="time")
        if name == "maxdatetime":
            return _Val(self._span(args, sa.func.max), path, kind="time")
        if name == "date":
            return _Val(sa.func.date(self._as(args[0], "time")), path, kind="string")
        if name == "round":
            return _Val(sa.func.round(n(0)), path, kind="number")
        if name == "floor":
            x = n(0)
            return _Val(sa.case((x < sa.cast(x, sa.Integer), sa.cast(x, sa.Integer) - 1), else_=sa.cast(x, sa.Integer)),
                        path, kind="number")
        if name == "ceiling":
            x = n(0)
            return _Val(sa.case((x > sa.cast(x, sa.Integer), sa.cast(x, sa.Integer) + 1), else_=sa.cast(x, sa.Integer)),
                        path, kind="number")
        raise BadRequest(f"The function {name}() is not supported in $filter.")

    def _span(self, args: list[_Val], fn: Any) -> Any:
        raise BadRequest("mindatetime() and maxdatetime() are not supported in $filter.")


def property_column(es: EntitySet, prop: str) -> tuple[Any, str]:
    """The SQL column of a SensorThings property and its kind, or ``BadRequest``."""
    if prop in ("id", "@iot.id"):
        return es.model.id, "number"
    attr = es.props.get(prop)
    if attr is None:
        raise BadRequest(f"{es.singular} has no property {prop!r}.")
    col = getattr(es.model, attr)
    kind = {"result_number": "number"}.get(attr, "any")
    if attr in ("time", "phenomenon_time", "result_time", "valid_start", "phenomenon_start", "result_start"):
        kind = "time"
    elif attr in ("name", "description", "encoding_type", "definition", "observation_type"):
        kind = "string"
    return col, kind


# ------------------------------------------------------------------------------------------ options


@dataclass
class Options:
    """Parsed query options of one level (the top request or one ``$expand`` item)."""

    filter: str | None = None
    select: list[str] | None = None
    expand: dict[str, Options] = field(default_factory=dict)
    orderby: list[tuple[str, bool]] = field(default_factory=list)  # (property, descending)
    top: int | None = None
    skip: int = 0
    count: bool = False
    result_format: str | None = None


KNOWN_OPTIONS = {"$filter", "$select", "$expand", "$orderby", "$top", "$skip", "$count", "$resultFormat"}


def split_top_level(text: str, sep: str) -> list[str]:
    """Split on ``sep`` outside parentheses and quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, False
    for ch in text:
        if ch == "'":
            quote = not quote
        elif not quote and ch == "(":
            depth += 1
        elif not quote and ch == ")":
            depth -= 1
            if depth < 0:
                raise BadRequest("Unbalanced parentheses in query options.")
        if ch == sep and depth == 0 and not quote:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth != 0 or quote:
        raise BadRequest("Unbalanced parentheses or quotes in query options.")
    out.append("".join(cur))
    return [p.strip() for p in out if p.strip()]


def parse_options(params: dict[str, str], es: EntitySet) -> Options:
    """Validate and parse ``$filter``, ``$select``, ``$expand`` … for entity set ``es``."""
    unknown = [k for k in params if k.startswith("$") and k not in KNOWN_OPTIONS]
    if unknown:
        raise BadRequest(f"Unknown query option {unknown[0]}.")
    opts = Options()
    if (f := params.get("$filter")) is not None:
        if not f.strip():
            raise BadRequest("$filter is empty.")
        opts.filter = f
    if (sel := params.get("$select")) is not None:
        names = [x.strip() for x in sel.split(",") if x.strip()]
        for name in names:
            if name not in ("id", "@iot.id", "@iot.selfLink") and name not in es.props and name not in es.navs:
                raise BadRequest(f"$select: {es.singular} has no property {name!r}.")
        opts.select = names
    if (ob := params.get("$orderby")) is not None:
        for part in split_top_level(ob, ","):
            bits = part.split()
            if len(bits) > 2 or (len(bits) == 2 and bits[1].lower() not in ("asc", "desc")):
                raise BadRequest(f"$orderby: cannot read {part!r}.")
            property_column(es, bits[0]) if "/" not in bits[0] else None
            opts.orderby.append((bits[0], len(bits) == 2 and bits[1].lower() == "desc"))
    if (top := params.get("$top")) is not None:
        opts.top = _nonneg(top, "$top")
    if (skip := params.get("$skip")) is not None:
        opts.skip = _nonneg(skip, "$skip")
    if (count := params.get("$count")) is not None:
        if count not in ("true", "false"):
            raise BadRequest("$count must be true or false.")
        opts.count = count == "true"
    if (rf := params.get("$resultFormat")) is not None:
        if rf not in ("dataArray", "default"):
            raise BadRequest("$resultFormat may be dataArray.")
        opts.result_format = rf
    if (ex := params.get("$expand")) is not None:
        for item in split_top_level(ex, ","):
            _add_expand(opts, es, item)
    return opts


def _add_expand(opts: Options, es: EntitySet, item: str) -> None:
    m = re.match(r"^([A-Za-z/]+)\s*(?:\((.*)\))?$", item, re.S)
    if not m:
        raise BadRequest(f"$expand: cannot read {item!r}.")
    path, inner = m.group(1).split("/"), m.group(2)
    cur_opts, cur_es = opts, es
    for i, name in enumerate(path):
        if name not in cur_es.navs:
            raise BadRequest(f"$expand: {cur_es.singular} has no navigation property {name!r}.")
        target = SETS[cur_es.navs[name].target]
        sub = cur_opts.expand.get(name)
        if sub is None:
            sub = Options()
            cur_opts.expand[name] = sub
        if i == len(path) - 1 and inner:
            params: dict[str, str] = {}
            for part in split_top_level(inner, ";"):
                key, eq, val = part.partition("=")
                if not eq:
                    raise BadRequest(f"$expand: cannot read option {part!r}.")
                params[key.strip()] = val
            parsed = parse_options(params, target)
            for k, v in parsed.expand.items():
                sub.expand.setdefault(k, v)
            sub.filter, sub.select, sub.orderby = parsed.filter, parsed.select, parsed.orderby
            sub.top, sub.skip, sub.count = parsed.top, parsed.skip, parsed.count
        cur_opts, cur_es = sub, target


def _nonneg(text: str, name: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number.") from None
    if value < 0:
        raise BadRequest(f"{name} must not be negative.")
    return value


# ------------------------------------------------------------------------------------------ reading


class Reader:
    """Runs SensorThings reads for one request: collections, entities, expansions, JSON."""

    def __init__(self, session: Session, base_url: str, actor: Actor | None):
        self.session = session
        self.base = base_url.rstrip("/")
        self.actor = actor
        self.dialect = session.get_bind().dialect.name

    # selfLinks
    def self_link(self, es: EntitySet, ident: int) -> str:
        return f"{self.base}/{es.name}({ident})"

    def apply(self, stmt: Any, es: EntitySet, opts: Options) -> Any:
        if opts.filter:
            stmt = stmt.where(FilterBuilder(es, self.dialect, self.session).build(opts.filter))
        return stmt

    def order(self, stmt: Any, es: EntitySet, opts: Options) -> Any:
        keys = []
        for prop, desc in opts.orderby:
            if "/" in prop:
                raise BadRequest("$orderby over related entities is not supported.")
            col, _ = property_column(es, prop)
            if isinstance(col.type, sa.JSON):
                raise BadRequest(f"$orderby: {prop} is not orderable.")
            keys.append(col.desc() if desc else col.asc())
        keys.append(es.model.id.asc())
        return stmt.order_by(*keys)

    def collection(self, es: EntitySet, conds: list[Any], opts: Options, next_base: str | None,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
        """A collection response: ``value``, and ``@iot.count`` / ``@iot.nextLink`` when asked or needed."""
        stmt = self.apply(sa.select(es.model).where(*conds), es, opts)
        out: dict[str, Any] = {}
        if opts.count:
            out["@iot.count"] = self.session.scalar(sa.select(sa.func.count()).select_from(stmt.subquery()))
        top = min(opts.top if opts.top is not None else DEFAULT_TOP, MAX_TOP)
        rows = list(self.session.scalars(self.order(stmt, es, opts).offset(opts.skip).limit(top + 1)))
        more = len(rows) > top
        rows = rows[:top]
        if more and next_base is not None:
            from urllib.parse import quote, urlencode

            p = dict(params or {})
            p["$top"] = str(top)
            p["$skip"] = str(opts.skip + top)
            out["@iot.nextLink"] = f"{next_base}?{urlencode(p, safe='$,()/:', quote_via=quote)}"
        if opts.result_format == "dataArray" and es.model is Observation:
            out["value"] = self.data_array(rows, opts)
            return out
        out["value"] = [self.entity(es, r, opts) for r in rows]
        return out

    def data_array(self, rows: list[Any], opts: Options) -> list[dict[str, Any]]:
        comps = opts.select or ["id", "phenomenonTime", "result"]
        grouped: dict[int, list[Any]] = {}
        for r in rows:
            grouped.setdefault(r.datastream_id, []).append(r)
        result = []
        for ds_id, obs in grouped.items():
            values = []
            for o in obs:
                full = self.entity(SETS["Observations"], o, Options())
                values.append([full.get("@iot.id") if c in ("id", "@iot.id") else full.get(c) for c in comps])
            result.append({"Datastream@iot.navigationLink": self.self_link(SETS["Datastreams"], ds_id),
                           "components": comps, "dataArray@iot.count": len(values), "dataArray": values})
        return result

    def entity(self, es: EntitySet, row: Any, opts: Options) -> dict[str, Any]:
        """One entity as SensorThings JSON with links, ``$select`` applied and ``$expand`` filled in."""
        full = to_json(es, row)
        link = self.self_link(es, row.id)
        out: dict[str, Any] = {}
        sel = opts.select
        if sel is None or "id" in sel or "@iot.id" in sel:
            out["@iot.id"] = row.id
        if sel is None or "@iot.selfLink" in sel or "id" in sel:
            out["@iot.selfLink"] = link
        for key, value in full.items():
            if sel is None or key in sel:
                out[key] = value
        for name in es.navs:
            if name in opts.expand:
                continue
            if sel is None or name in sel:
                out[f"{name}@iot.navigationLink"] = f"{link}/{name}"
        for name, sub in opts.expand.items():
            nav = es.navs[name]
            target = SETS[nav.target]
            back = getattr(target.model, nav.reverse)
            back_many = back.property.uselist
            cond = back.any(es.model.id == row.id) if back_many else back.has(es.model.id == row.id)
            conds = [cond, *visibility(target, self.actor)]
            if nav.many:
                coll = self.collection(target, conds, sub, None)
                out[name] = coll["value"]
                if "@iot.count" in coll:
                    out[f"{name}@iot.count"] = coll["@iot.count"]
                if len(coll["value"]) == min(sub.top if sub.top is not None else DEFAULT_TOP, MAX_TOP):
                    out[f"{name}@iot.nextLink"] = f"{link}/{name}?$top={len(coll['value'])}&$skip=" \
                                                  f"{sub.skip + len(coll['value'])}"
            else:
                child = self.session.scalars(self.apply(sa.select(target.model).where(*conds), target, sub)).first()
                if child is not None:
                    out[name] = self.entity(target, child, sub)
        return out


def to_json(es: EntitySet, row: Any) -> dict[str, Any]:
    """The plain properties of an entity (no links), in SensorThings names."""
    m = es.model
    if m is Thing:
        return {"name": row.name, "description": row.description, "properties": row.properties or {}}
    if m is Location:
        return {"name": row.name, "description": row.description, "encodingType": row.encoding_type,
                "location": row.location, "properties": row.properties or {}}
    if m is HistoricalLocation:
        return {"time": iso(row.time)}
    if m is Sensor:
        return {"name": row.name, "description": row.description, "encodingType": row.encoding_type,
                "metadata": row.sensor_metadata, "properties": row.properties or {}}
    if m is ObservedProperty:
        return {"name": row.name, "definition": row.definition, "description": row.description,
                "properties": row.properties or {}}
    if m is Datastream:
        out = {"name": row.name, "description": row.description, "observationType": row.observation_type,
               "unitOfMeasurement": row.unit_of_measurement or {}, "properties": row.properties or {}}
        if row.observed_area is not None:
            out["observedArea"] = row.observed_area
        if row.phenomenon_start is not None:
            out["phenomenonTime"] = f"{iso(row.phenomenon_start)}/{iso(row.phenomenon_end or row.phenomenon_start)}"
        if row.result_start is not None:
            out["resultTime"] = f"{iso(row.result_start)}/{iso(row.result_end or row.result_start)}"
        return out
    if m is FeatureOfInterest:
        return {"name": row.name, "description": row.description, "encodingType": row.encoding_type,
                "feature": row.feature, "properties": row.properties or {}}
    # Observation
    out = {"phenomenonTime": interval(row.phenomenon_time, row.phenomenon_end), "resultTime": iso(row.result_time),
           "result": result_value(row)}
    if row.result_quality is not None:
        out["resultQuality"] = row.result_quality
    if row.valid_start is not None:
        out["validTime"] = interval(row.valid_start, row.valid_end)
    if row.parameters is not None:
        out["parameters"] = row.parameters
    return out


def result_value(row: Any) -> Any:
    """An observation's result: the number (whole numbers without ``.0``) or the stored JSON value."""
    if row.result_number is not None:
        v = row.result_number
        return int(v) if v.is_integer() and abs(v) < 2**53 else v
    return row.result_json
