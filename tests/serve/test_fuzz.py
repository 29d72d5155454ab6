"""API fuzzing from the served OpenAPI document with schemathesis (property-based, on hypothesis).

Two runs against one real server: the admin token over the admin, health and
metrics operations, the channel token over the decide operations.  The
checks: no 500, every status, content type, header and body as the document
says.  Not checked: that schema-valid requests are accepted - the document's
event is any object with ``type`` and ``ts`` (the ruleset decides which
fields an event type needs), so most generated events are rightly refused
with 422.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import RULESET, TOKENS

ST = Path(sys.executable).with_name("st")
CHECKS = ",".join(
    (
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
    )
)


@pytest.mark.skipif(not ST.exists() and shutil.which("st") is None, reason="schemathesis is not installed")
def test_fuzz_from_the_served_openapi(start_server, tmp_path):
    srv = start_server(RULESET)
    runs = [
        ("admin", r"^/v1/admin|^/(healthz|readyz|metrics|openapi)"),
        ("channel", r"^/v1/decide"),
        ("analyst", r"^/v1/decide"),
    ]
    for scope, paths in runs:
        done = subprocess.run(
            [
                str(ST if ST.exists() else shutil.which("st")),
                "run",
                f"{srv.url}/openapi.json",
                "-H",
                f"Authorization: Bearer {TOKENS[scope]}",
                "--include-path-regex",
                paths,
                "--checks",
                CHECKS,
                "--max-examples",
                "5",
                "--seed",
                "20261206",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
        assert done.returncode == 0, f"{scope}:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"
        assert " passed" in done.stdout
    srv.stop()
    errors = [line for line in srv.log_lines() if line["level"] == "error"]
    assert not errors, errors
