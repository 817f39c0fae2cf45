// The GraphQL-over-HTTP conformance audit of the npm graphql-http package, against a server.
//
// Reads {url} as JSON on stdin; prints one JSON line per audit: {id, name, status, reason},
// status "ok" or the audit's failure ("error" for a MUST, "warn" for a SHOULD, "notice").
import { serverAudits } from "graphql-http";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url } = JSON.parse(input);

for (const audit of serverAudits({ url })) {
  const result = await audit.fn();
  console.log(
    JSON.stringify({
      id: result.id,
      name: result.name,
      status: result.status,
      reason: result.status === "ok" ? null : result.reason,
    }),
  );
}
