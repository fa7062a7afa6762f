"""The app starts without the heavy libraries: they are imported by the functions that use them.

An idle API process is what every worker costs; DuckDB, pandas, numpy, shapely, rdflib, openpyxl
and Pillow together took about 70 MB of it (213 MB → 143 MB RSS after start-up), and the download of
a 10 M-row dataset must stay under 200 MB for the whole process (docs/datahub.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("duckdb", "pandas", "pyarrow", "numpy", "scipy", "sklearn", "shapely", "rdflib", "openpyxl", "PIL",
         "reportlab", "matplotlib", "pyshacl")

SCRIPT = """
import json, sys, tempfile
from pathlib import Path
from smartprovince.app import create_app
from smartprovince.core.migrate import upgrade
from smartprovince.settings import Settings
from fastapi.testclient import TestClient
d = Path(tempfile.mkdtemp())
s = Settings(environment="test", data_dir=d, database_url=f"sqlite:///{d}/app.db",
             secret_key="startup-imports-test-secret-key-0123456789", load_demo=False)
upgrade(s.database_url)
with TestClient(create_app(s)) as client:
    assert client.get("/healthz").status_code == 200
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in HEAVY)))
"""


def test_app_starts_without_heavy_libraries() -> None:
    out = subprocess.run([sys.executable, "-c", f"HEAVY = {HEAVY!r}\n" + SCRIPT], capture_output=True, text=True,
                         timeout=300, check=True)
    loaded = json.loads(out.stdout.strip().splitlines()[-1])
    assert loaded == [], f"imported at start-up: {loaded}"
