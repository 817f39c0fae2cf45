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

from bench.backends import database, own_backends
from bench.cli import add_load_arguments, run
from bench.graphql import JSON_HEADERS, graphql_body
from bench.load import LoadResult, Target, load, probe
from bench.report import describe, generator_note, markdown_table
from bench.seed import new_brand_code
from bench.servers import SERVICE_FACTORY, serve
from domain.brands import create_brand

BASELINE = "baseline: Starlette JSON POST"
BRAND_QUERY = "query { brand { code } }"
TYPENAME_QUERY = "{ __typename }"


async def main(seconds: float, workers: int, connections: int) -> None:
    measure = {"seconds": seconds, "connections": connections}
    results: dict[str, LoadResult] = {}

    def record(name: str, result: LoadResult) -> None:
        results[name] = result
        print(describe(name, result, results[BASELINE]), flush=True)

    print(f"{workers} uvicorn workers, {connections} connections, {seconds:g} s per scenario")
    async with own_backends() as backends:
        brand_code = new_brand_code()
        async with database(backends.database_url):
            await create_brand(brand_code, "Bench Brand")

        async with serve("bench.baseline_app:create_app", workers=workers) as url:
            baseline = Target(f"{url}/echo", graphql_body(BRAND_QUERY), JSON_HEADERS)
            await probe(baseline)
            record(BASELINE, await load(baseline, **measure))

        env = backends.service_env()
        async with serve(SERVICE_FACTORY, workers=workers, env=env) as url:
            brand = Target(
                f"{url}/graphql", graphql_body(BRAND_QUERY), {**JSON_HEADERS, "X-Brand": brand_code}
            )
            answer = await probe(brand)
            assert answer["data"]["brand"]["code"] == brand_code, answer
            record(f"GraphQL {BRAND_QUERY}", await load(brand, **measure))

            typename = Target(f"{url}/graphql", graphql_body(TYPENAME_QUERY), JSON_HEADERS)
            await probe(typename)
            record(f"GraphQL {TYPENAME_QUERY}", await load(typename, **measure))

    print(f"\n{generator_note(results)}")
    print(f"\n{workers} uvicorn workers, {connections} connections, {seconds:g} s each:\n")
    print(markdown_table(results, BASELINE))


def cli() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.foundation", description=__doc__)
    add_load_arguments(parser)
    arguments = parser.parse_args()
    run(main(arguments.seconds, arguments.workers, arguments.connections))


if __name__ == "__main__":
    cli()
