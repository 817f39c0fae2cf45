// One subscription through the npm graphql-ws client (the one GraphiQL, Apollo and urql use).
//
// Reads {url, connectionParams, query, variables, payload, count, timeoutSeconds} as JSON on
// stdin (`payload` instead of query and variables names a document the server knows without its
// text: {documentId, variables} or {extensions: {persistedQuery}, variables}; graphql-ws requires
// `query` to be a string, so it goes empty beside it, as graphql-ws's persisted-queries recipe
// sends it) and
// prints one JSON line per event, as it comes: {"next": payload} for each result, then
// {"done": true} once `count` results came (without a count it runs until stopped). Anything
// else ends the run with a line saying what happened and exit code 1: {"error": ...} (the
// server's error message, or the socket closing: {code, reason}), {"complete": true}, or
// {"timeout": seconds} when the results did not all come in time.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

let input = "";
for await (const chunk of process.stdin) input += chunk;
const {
  url,
  connectionParams = {},
  query,
  variables = {},
  payload,
  count,
  timeoutSeconds = 60,
} = JSON.parse(input);

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
  payload ? { query: "", ...payload } : { query, variables },
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
