"""The app starts without the heavy libraries: they are imported by the functions that use them.

An idle API process is what every worker costs; DuckDB, pandas, numpy, shapely, rdflib, openpyxl,
Pillow, httpx, Typer and Rich together took about 85 MB of it (213 MB → about 127 MB RSS after
start-up), and the download of a 10 M-row dataset must stay under 200 MB for the whole process
(docs/datahub.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("duckdb", "pandas", "pyarrow", "numpy", "scipy", "sklearn", "shapely", "rdflib", "openpyxl", "PIL",
         "reportlab", "matplotlib", "pyshacl", "httpx", "typer", "rich")

SCRIPT = """
import asyncio, json, sys, tempfile
from pathlib import Path
from smartprovince.app import create_app
from smartprovince.core.migrate import upgrade
from smartprovince.settings import Settings
d = Path(tempfile.mkdtemp())
s = Settings(environment="test", data_dir=d, database_url=f"sqlite:///{d}/app.db",
             secret_key="startup-imports-test-secret-key-0123456789", load_demo=False)
upgrade(s.database_url)
app = create_app(s)


async def start_and_stop() -> None:  # the app's start-up and shutdown, as a server runs them (no HTTP client)
    async with app.router.lifespan_context(app):
        pass


asyncio.run(start_and_stop())
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""


def test_app_starts_without_heavy_libraries() -> None:
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + SCRIPT], capture_output=True, text=True,
                         timeout=300, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at start-up: {loaded}"
