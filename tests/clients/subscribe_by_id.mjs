// One subscription through the npm graphql-ws client, to a document the server knows, named
// without its text. graphql-ws requires `query` to be a string, so the client sends it empty
// beside the document's name, as graphql-ws's persisted-queries recipe does: `payload` is
// {documentId, variables} (a trusted document's id) or {extensions: {persistedQuery}, variables}.
//
// Reads {url, connectionParams, payload, count, timeoutSeconds} as JSON on stdin and prints what
// tests/clients/subscribe.mjs prints: {"next": payload} per result, {"done": true} once `count`
// came; else {"error": ...}, {"complete": true} or {"timeout": seconds}, and exit code 1.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url, connectionParams = {}, payload, count, timeoutSeconds = 60 } = JSON.parse(input);

const client = createClient({ url, connectionParams, webSocketImpl: WebSocket, retryAttempts: 0 });

function finish(line, code) {
  console.log(JSON.stringify(line));
  client.dispose();
  process.exit(code);
}

const describe = (error) =>
  error && typeof error === "object" && "code" in error
    ? { code: error.code, reason: error.reason } // a CloseEvent
    : error instanceof Error
      ? { message: error.message }
      : error; // the GraphQL errors of an `error` message

setTimeout(() => finish({ timeout: timeoutSeconds }, 1), timeoutSeconds * 1000);

let received = 0;
client.subscribe(
  { query: "", ...payload },
  {
    next(result) {
      console.log(JSON.stringify({ next: result }));
      received += 1;
      if (received === count) finish({ done: true }, 0);
    },
    error(error) {
      finish({ error: describe(error) }, 1);
    },
    complete() {
      finish({ complete: true }, 1);
    },
  },
);
