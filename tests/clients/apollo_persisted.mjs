// Operations through Apollo Client and its persisted-queries link, as a storefront sends them.
//
// Reads {url, headers, operations: [{document, variables}], useGETForHashedQueries, manifest} as
// JSON on stdin. Without `manifest` the link sends Automatic Persisted Queries (the sha256 of
// each document, the text only when the server asks for it); with it, the path of the
// {"<sha256>": "<text>"} manifest GraphQL Codegen's client preset writes, read through
// @apollo/persisted-query-lists' generatePersistedQueryIdsFromManifest (ids by operation name).
// Prints one JSON line per operation, in order: {data} or {error}, and `requests`, what went
// over the wire for it: [{method, hash, withQuery, status, codes}].
import { readFile } from "node:fs/promises";
import { createHash } from "node:crypto";
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { generatePersistedQueryIdsFromManifest } from "@apollo/persisted-query-lists";
import { parse } from "graphql";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url, headers = {}, operations, useGETForHashedQueries = false, manifest } =
  JSON.parse(input);

/** Codegen's manifest in the shape Apollo's persisted query lists read. */
async function apolloManifest(path) {
  const documents = JSON.parse(await readFile(path, "utf8"));
  return {
    format: "apollo-persisted-query-manifest",
    version: 1,
    operations: Object.entries(documents).map(([id, body]) => {
      const operation = parse(body).definitions.find((d) => d.kind === "OperationDefinition");
      return { id, name: operation.name.value, type: operation.operation, body };
    }),
  };
}

let requests = [];

/** fetch, noting what each request sent and what came back. */
async function recordingFetch(uri, init) {
  const params = new URL(uri).searchParams;
  const sent =
    init.method === "GET"
      ? { query: params.get("query"), extensions: JSON.parse(params.get("extensions") ?? "{}") }
      : JSON.parse(init.body);
  const response = await fetch(uri, init);
  const body = await response.clone().json();
  requests.push({
    method: init.method,
    hash: sent.extensions?.persistedQuery?.sha256Hash ?? null,
    withQuery: typeof sent.query === "string",
    status: response.status,
    codes: (body.errors ?? []).map((error) => error.extensions?.code ?? null),
  });
  return response;
}

const persisted = new PersistedQueryLink(
  manifest
    ? generatePersistedQueryIdsFromManifest({ loadManifest: () => apolloManifest(manifest) })
    : {
        sha256: (text) => createHash("sha256").update(text).digest("hex"),
        useGETForHashedQueries,
      },
);
const client = new ApolloClient({
  cache: new InMemoryCache(),
  link: persisted.concat(new HttpLink({ uri: url, headers, fetch: recordingFetch })),
});

for (const { document, variables = {} } of operations) {
  const query = gql(document);
  const isMutation = query.definitions.some((d) => d.operation === "mutation");
  requests = [];
  try {
    const { data } = isMutation
      ? await client.mutate({ mutation: query, variables })
      : await client.query({ query, variables, fetchPolicy: "network-only" });
    console.log(JSON.stringify({ data, requests }));
  } catch (error) {
    console.log(JSON.stringify({ error: error.message, requests }));
  }
}
