"""Property-based conformance of the articles API to its own OpenAPI document: requests
generated from /openapi.json (valid and invalid) against the real ingest process and a real
redis-server never get a 5xx, and every answer is one the document declares, in its shape."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.conftest import API_KEY, Databases, database
from tests.ingest.ingest_process import ingest_process

pytestmark = pytest.mark.processes

AUTH = {"Authorization": f"Bearer {API_KEY}"}
# Cases per operation and mode. A body's schema has far more to vary than an article id, the
# only input of GET and DELETE: at 30 cases theirs got no answer that their first 10 did not.
EXAMPLES = {
    "PUT /v1/articles/{article_id}": 30,
    "POST /v1/articles:batch": 30,
    "GET /v1/articles/{article_id}": 10,
    "DELETE /v1/articles/{article_id}": 10,
}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def ingest(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    # One uvicorn process: conformance is each request's answer, not how they spread.
    logs = tmp_path_factory.mktemp("schemathesis") / "logs"
    with database(databases) as url, ingest_process(url, logs, NEWSWIRE_INGEST_WORKERS="1") as base:
        yield base


def operations(url: str) -> list[schemathesis.APIOperation]:
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
    found = [result.ok() for result in schema.get_all_operations()]
    return [op for op in found if op.path.startswith("/v1/articles")]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_articles_api_keeps_to_its_openapi_document(ingest: str, mode: GenerationMode) -> None:
    checked = {f"{op.method.upper()} {op.path}": op for op in operations(ingest)}
    assert set(checked) == set(EXAMPLES)
    statuses: Counter[int] = Counter()
    unsatisfiable: list[str] = []
    for name, operation in checked.items():

        @given(case=operation.as_strategy(generation_mode=mode))
        @hypothesis_settings(
            max_examples=EXAMPLES[name],
            derandomize=True,  # the same cases every run, so a failure replays
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case: schemathesis.Case) -> None:
            response = case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)
            statuses[response.status_code] += 1

        try:
            call()
        except Unsatisfiable:
            # Nothing in the operation can be made invalid (a path parameter alone, say).
            assert mode is GenerationMode.NEGATIVE
            unsatisfiable.append(name)
    print(f"\n{mode.value}: answers {dict(sorted(statuses.items()))}; none for {unsatisfiable}")
    assert not {"PUT /v1/articles/{article_id}", "POST /v1/articles:batch"} & set(unsatisfiable)
    assert sum(statuses.values()) >= sum(
        EXAMPLES[name] for name in set(checked) - set(unsatisfiable)
    )
