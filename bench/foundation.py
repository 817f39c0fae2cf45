"""The floors of the stack, side by side: a bare Starlette endpoint against the GraphQL service.

    python -m bench.foundation [--seconds 10] [--workers 2] [--connections 64]

Scenarios, each served by uvicorn with the same workers and loaded with the same connections:
  baseline   a plain Starlette JSON POST endpoint (bench/baseline_app.py);
  brand      `query { brand { code } }` with X-Brand of a brand seeded here (one SELECT);
  typename   `{ __typename }`, the least a GraphQL request costs in this service.
Rates are printed as ratios to the baseline's, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import uuid

from bench import harness
from domain.brands import create_brand

BASELINE = "baseline: Starlette JSON POST"
BRAND_QUERY = "query { brand { code } }"
TYPENAME_QUERY = "{ __typename }"
JSON = {"Content-Type": "application/json"}


def graphql_body(query: str) -> bytes:
    return json.dumps({"query": query}).encode()


async def main(seconds: float, workers: int, connections: int) -> None:
    measure = {"seconds": seconds, "connections": connections}
    results: dict[str, harness.LoadResult] = {}

    def record(name: str, result: harness.LoadResult) -> None:
        results[name] = result
        print(harness.describe(name, result, results[BASELINE]), flush=True)

    print(f"{workers} uvicorn workers, {connections} connections, {seconds:g} s per scenario")
    async with harness.backends() as backends:
        brand_code = f"bench{uuid.uuid4().hex[:8]}"
        async with harness.database(backends.database_url):
            await create_brand(brand_code, "Bench Brand")

        async with harness.serve("bench.baseline_app:create_app", workers=workers) as url:
            baseline = harness.Target(f"{url}/echo", graphql_body(BRAND_QUERY), JSON)
            await harness.probe(baseline)
            record(BASELINE, await harness.load(baseline, **measure))

        env = backends.service_env()
        async with harness.serve(harness.SERVICE_FACTORY, workers=workers, env=env) as url:
            brand = harness.Target(
                f"{url}/graphql", graphql_body(BRAND_QUERY), {**JSON, "X-Brand": brand_code}
            )
            answer = await harness.probe(brand)
            assert answer["data"]["brand"]["code"] == brand_code, answer
            record(f"GraphQL {BRAND_QUERY}", await harness.load(brand, **measure))

            typename = harness.Target(f"{url}/graphql", graphql_body(TYPENAME_QUERY), JSON)
            await harness.probe(typename)
            record(f"GraphQL {TYPENAME_QUERY}", await harness.load(typename, **measure))

    print(f"\n{harness.generator_note(results)}")
    print(f"\n{workers} uvicorn workers, {connections} connections, {seconds:g} s each:\n")
    print(harness.markdown_table(results, BASELINE))


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.foundation", description=__doc__)
    harness.add_load_arguments(parser)
    arguments = parser.parse_args()
    harness.run(main(arguments.seconds, arguments.workers, arguments.connections))


if __name__ == "__main__":
    cli()
