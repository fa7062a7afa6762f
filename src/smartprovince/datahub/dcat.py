"""DCAT-AP 3.0 catalogue (siêu dữ liệu DCAT) at ``/catalog.ttl``, ``/catalog.jsonld`` and ``/dataset/{name}.ttl``.

These are the paths of ckanext-dcat, so European and national harvesters find the catalogue where
they expect it. Titles and descriptions are given in Vietnamese and English. Every referenced node
carries its class (licence document, frequency, file type, agent, concept) so the graph passes the
official SHACL shapes including the class-range file and the release's combined file; the
recommended properties are given except the place and period covered. Only public datasets appear.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from sqlalchemy.orm import Session

from smartprovince.core.deps import DbSession
from smartprovince.core.errors import NotFound
from smartprovince.core.security import Actor, public
from smartprovince.datahub import queries, service
from smartprovince.datahub.queries import DatasetView

if TYPE_CHECKING:  # rdflib is imported where used: the app starts without it (memory)
    from rdflib import Graph, URIRef

router = APIRouter(tags=["dcat"], include_in_schema=False)

EU = "http://publications.europa.eu/resource/authority/"
ADMS = "http://purl.org/adms/"
DCATAP = "http://data.europa.eu/r5r/"
LICENCE_TYPES = {"CC0-1.0": "PublicDomain"}  # the others require attribution
FREQUENCY = {"daily": "DAILY", "weekly": "WEEKLY", "monthly": "MONTHLY", "quarterly": "QUARTERLY",
             "annual": "ANNUAL", "irregular": "IRREG"}
LICENCE_URIS = {"CC-BY-4.0": "https://creativecommons.org/licenses/by/4.0/",
                "CC0-1.0": "https://creativecommons.org/publicdomain/zero/1.0/",
                "ODC-BY-1.0": "https://opendatacommons.org/licenses/by/1-0/"}
# EU data themes closest to each sector.
THEMES = {"education": "EDUC", "health": "HEAL", "tourism": "ECON", "agriculture": "AGRI", "transport": "TRAN",
          "environment": "ENVI", "economy": "ECON", "society": "SOCI", "administration": "GOVE"}
THEME_LABELS = {"EDUC": "Education, culture and sport", "HEAL": "Health", "ECON": "Economy and finance",
                "AGRI": "Agriculture, fisheries, forestry and food", "TRAN": "Transport", "ENVI": "Environment",
                "SOCI": "Population and society", "GOVE": "Government and public sector"}
FILE_TYPES = {"csv": ("CSV", "text/csv"), "json": ("JSON", "application/json"),
              "parquet": ("PARQUET", "application/vnd.apache.parquet")}
SECTORS_EN = {"education": "Education", "health": "Health", "tourism": "Tourism", "agriculture": "Agriculture",
              "transport": "Transport", "environment": "Natural resources and environment", "economy": "Economy",
              "society": "Culture and society", "administration": "Public administration"}


def _agent(g: Graph, base: str, org: object) -> URIRef:
    from rdflib import RDF, Literal, URIRef
    from rdflib.namespace import FOAF

    node = URIRef(f"{base}/organization/{org.code}")  # type: ignore[attr-defined]
    g.add((node, RDF.type, FOAF.Agent))
    g.add((node, FOAF.name, Literal(org.name, lang="vi")))  # type: ignore[attr-defined]
    _add_type(g, node, f"{ADMS}publishertype/RegionalAuthority", f"{ADMS}publishertype/1.0")
    return node


def _concept(g: Graph, concept: str, scheme: str) -> URIRef:
    """A controlled-vocabulary concept: typed, labelled (its last path segment) and placed in its scheme."""
    from rdflib import RDF, Literal, URIRef
    from rdflib.namespace import SKOS

    c = URIRef(concept)
    g.add((c, RDF.type, SKOS.Concept))
    g.add((c, SKOS.prefLabel, Literal(concept.rsplit("/", 1)[-1], lang="en")))
    g.add((c, SKOS.inScheme, URIRef(scheme)))
    return c


def _add_type(g: Graph, node: URIRef, concept: str, scheme: str) -> None:
    """``node dct:type concept`` with the concept from its ADMS scheme."""
    from rdflib.namespace import DCTERMS

    g.add((node, DCTERMS.type, _concept(g, concept, scheme)))


def _contact(g: Graph, base: str, org: object) -> URIRef:
    """The publishing organisation as a vCard contact point (its name; the portal page as the contact URL)."""
    from rdflib import RDF, Literal, Namespace, URIRef

    vcard = Namespace("http://www.w3.org/2006/vcard/ns#")
    node = URIRef(f"{base}/organization/{org.code}#contact")  # type: ignore[attr-defined]
    g.add((node, RDF.type, vcard.Organization))
    g.add((node, RDF.type, vcard.Kind))
    g.add((node, vcard.fn, Literal(org.name, lang="vi")))  # type: ignore[attr-defined]
    g.add((node, vcard.hasURL, URIRef(f"{base}/opendata/search?org={org.code}")))  # type: ignore[attr-defined]
    return node


def _typed(g: Graph, uri: str, cls: URIRef) -> URIRef:
    from rdflib import RDF, URIRef

    node = URIRef(uri)
    g.add((node, RDF.type, cls))
    return node


def add_dataset(g: Graph, base: str, view: DatasetView) -> URIRef:
    """Describe one dataset and its three distributions in ``g``; returns the dataset's node."""
    from rdflib import RDF, RDFS, XSD, Literal, URIRef
    from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS

    ds = view.dataset
    node = URIRef(f"{base}/dataset/{ds.name}")
    g.add((node, RDF.type, DCAT.Dataset))
    g.add((node, DCTERMS.identifier, Literal(ds.id)))
    g.add((node, DCTERMS.title, Literal(ds.title, lang="vi")))
    if ds.title_en:
        g.add((node, DCTERMS.title, Literal(ds.title_en, lang="en")))
    g.add((node, DCTERMS.description, Literal(ds.description or ds.title, lang="vi")))
    g.add((node, DCTERMS.description, Literal(ds.description_en or ds.title_en or ds.title, lang="en")))
    g.add((node, DCTERMS.publisher, _agent(g, base, view.org)))
    g.add((node, DCAT.contactPoint, _contact(g, base, view.org)))
    g.add((node, DCTERMS.issued, Literal(ds.created_at.isoformat(), datatype=XSD.dateTime)))
    g.add((node, DCTERMS.modified, Literal(ds.updated_at.isoformat(), datatype=XSD.dateTime)))
    frequency = _typed(g, f"{EU}frequency/{FREQUENCY[ds.frequency]}", DCTERMS.Frequency)
    g.add((frequency, SKOS.inScheme, URIRef(f"{EU}frequency")))
    g.add((node, DCTERMS.accrualPeriodicity, frequency))
    theme = _typed(g, f"{EU}data-theme/{THEMES[ds.sector]}", SKOS.Concept)
    g.add((theme, SKOS.prefLabel, Literal(THEME_LABELS[THEMES[ds.sector]], lang="en")))
    g.add((theme, SKOS.inScheme, URIRef(f"{EU}data-theme")))
    g.add((node, DCAT.theme, theme))
    g.add((node, DCAT.landingPage, _typed(g, f"{base}/opendata/{ds.name}", FOAF.Document)))
    for tag in ds.tags:
        g.add((node, DCAT.keyword, Literal(tag, lang="vi")))
    g.add((node, DCAT.keyword, Literal(service.SECTORS[ds.sector], lang="vi")))
    g.add((node, DCAT.keyword, Literal(SECTORS_EN[ds.sector], lang="en")))
    licence = _licence(g, ds.licence)
    availability = _concept(g, f"{EU}planned-availability/STABLE", f"{EU}planned-availability")
    for fmt, (eu_type, media) in FILE_TYPES.items():
        dist = URIRef(f"{base}/dataset/{ds.name}/resource/{ds.id}-{fmt}")
        # Typed rdfs:Resource: the combined dcat-ap-SHACL.ttl checks the class of access and download URLs.
        url = _typed(g, f"{base}/opendata/{ds.name}/download/{fmt}", RDFS.Resource)
        g.add((node, DCAT.distribution, dist))
        g.add((dist, RDF.type, DCAT.Distribution))
        g.add((dist, DCAT.accessURL, url))
        g.add((dist, DCAT.downloadURL, url))
        g.add((dist, DCTERMS.title, Literal(f"{ds.title} ({eu_type})", lang="vi")))
        g.add((dist, DCTERMS.title, Literal(f"{ds.title_en or ds.title} ({eu_type})", lang="en")))
        g.add((dist, DCTERMS.description, Literal(f"Toàn bộ bản ghi công khai, định dạng {eu_type}", lang="vi")))
        g.add((dist, DCTERMS.description, Literal(f"Every public record, as {eu_type}", lang="en")))
        g.add((dist, URIRef(f"{DCATAP}availability"), availability))
        file_type = _typed(g, f"{EU}file-type/{eu_type}", DCTERMS.MediaTypeOrExtent)
        g.add((file_type, SKOS.inScheme, URIRef(f"{EU}file-type")))
        g.add((dist, DCTERMS.format, file_type))
        g.add((dist, DCAT.mediaType, _typed(g, f"https://www.iana.org/assignments/media-types/{media}",
                                            DCTERMS.MediaType)))
        g.add((dist, DCTERMS.license, licence))
        if ds.data_updated_at:
            g.add((dist, DCTERMS.modified, Literal(ds.data_updated_at.isoformat(), datatype=XSD.dateTime)))
    return node


def _licence(g: Graph, code: str) -> URIRef:
    from rdflib.namespace import DCTERMS

    node = _typed(g, LICENCE_URIS.get(code, LICENCE_URIS["CC-BY-4.0"]), DCTERMS.LicenseDocument)
    _add_type(g, node, f"{ADMS}licencetype/{LICENCE_TYPES.get(code, 'Attribution')}", f"{ADMS}licencetype/1.0")
    return node


def catalog_graph(session: Session, base: str, *, only: str | None = None) -> Graph:
    """The catalogue graph with every public dataset (or only the dataset named ``only``)."""
    from rdflib import RDF, XSD, Graph, Literal, URIRef
    from rdflib.namespace import DCAT, DCTERMS, FOAF, SKOS

    g = Graph()
    g.bind("dcat", DCAT)
    g.bind("dct", DCTERMS)
    g.bind("foaf", FOAF)
    g.bind("skos", SKOS)
    views = queries.public_datasets(session)
    if only is not None:
        views = [v for v in views if v.dataset.name == only]
        if not views:
            raise NotFound("No such public dataset.")
        add_dataset(g, base, views[0])
        return g
    cat = URIRef(f"{base}/catalog")
    g.add((cat, RDF.type, DCAT.Catalog))
    g.add((cat, DCTERMS.title, Literal("Danh mục dữ liệu mở của tỉnh", lang="vi")))
    g.add((cat, DCTERMS.title, Literal("Open data catalogue of the province", lang="en")))
    g.add((cat, DCTERMS.description, Literal("Dữ liệu mở do các sở, ngành và địa phương công bố.", lang="vi")))
    g.add((cat, DCTERMS.description, Literal("Open data published by the province's departments and localities.",
                                             lang="en")))
    g.add((cat, FOAF.homepage, _typed(g, f"{base}/opendata", FOAF.Document)))
    taxonomy = _typed(g, f"{EU}data-theme", SKOS.ConceptScheme)
    g.add((taxonomy, DCTERMS.title, Literal("Data theme", lang="en")))
    g.add((cat, DCAT.themeTaxonomy, taxonomy))
    language = _typed(g, f"{EU}language/VIE", DCTERMS.LinguisticSystem)
    g.add((language, SKOS.inScheme, URIRef(f"{EU}language")))
    g.add((cat, DCTERMS.language, language))
    g.add((cat, DCTERMS.license, _licence(g, "CC-BY-4.0")))
    root = None
    for v in views:
        g.add((cat, DCAT.dataset, add_dataset(g, base, v)))
        root = root or v.org
    if views:
        first = min(v.dataset.created_at for v in views)
        last = max(v.dataset.updated_at for v in views)
        g.add((cat, DCTERMS.issued, Literal(first.isoformat(), datatype=XSD.dateTime)))
        g.add((cat, DCTERMS.modified, Literal(last.isoformat(), datatype=XSD.dateTime)))
    publisher = URIRef(f"{base}/organization/province")
    g.add((publisher, RDF.type, FOAF.Agent))
    g.add((publisher, FOAF.name, Literal("Ủy ban nhân dân tỉnh", lang="vi")))
    _add_type(g, publisher, f"{ADMS}publishertype/RegionalAuthority", f"{ADMS}publishertype/1.0")
    g.add((cat, DCTERMS.publisher, publisher))
    return g


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/")


_PUBLIC = public("the DCAT catalogue describes public datasets only")


@router.get("/catalog.ttl")
def catalog_ttl(request: Request, session: DbSession, _: Actor = Depends(_PUBLIC)) -> Response:
    """The whole catalogue in Turtle."""
    return Response(catalog_graph(session, _base(request)).serialize(format="turtle"), media_type="text/turtle")


@router.get("/catalog.jsonld")
def catalog_jsonld(request: Request, session: DbSession, _: Actor = Depends(_PUBLIC)) -> Response:
    """The whole catalogue in JSON-LD."""
    return Response(catalog_graph(session, _base(request)).serialize(format="json-ld"),
                    media_type="application/ld+json")


@router.get("/dataset/{name}.ttl")
def dataset_ttl(name: str, request: Request, session: DbSession, _: Actor = Depends(_PUBLIC)) -> Response:
    """One public dataset in Turtle."""
    return Response(catalog_graph(session, _base(request), only=name).serialize(format="turtle"),
                    media_type="text/turtle")
