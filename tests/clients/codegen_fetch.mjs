// Operations as a GraphQL Codegen client-preset app sends persisted documents: the typed
// document nodes the preset generated (with `persistedDocuments`) carry their manifest hash in
// `__meta__.hash`, and plain fetch sends the hash instead of the text, either as codegen's docs
// show (`extensions.persistedQuery.sha256Hash`) or as GraphQL-over-HTTP's persisted documents
// name it (`documentId`).
//
// Reads {url, headers, client, send, operations: [{name, variables}]} as JSON on stdin: `client`
// is the preset's output folder (its graphql.ts is loaded with jiti, as codegen loads
// codegen.ts), `send` "documentId" or "persistedQuery", each `name` an operation's. Prints one
// JSON line per operation: {hash, status, body}.
import createJiti from "jiti";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url, headers = {}, client, send, operations } = JSON.parse(input);

const generated = createJiti(import.meta.url, { cache: false })(`${client}/graphql.ts`);

for (const { name, variables = {} } of operations) {
  const hash = generated[`${name}Document`].__meta__.hash;
  const named =
    send === "documentId"
      ? { documentId: `sha256:${hash}` }
      : { extensions: { persistedQuery: { version: 1, sha256Hash: hash } } };
  const response = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json",
      ...headers,
    },
    body: JSON.stringify({ ...named, variables }),
  });
  console.log(JSON.stringify({ hash, status: response.status, body: await response.json() }));
}
