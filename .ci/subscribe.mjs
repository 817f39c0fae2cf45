// Subscribe to balanceChanged with the npm graphql-ws client, as a frontend does, and print the
// first change. Fails on a binary frame (browsers' and Node's graphql-ws clients refuse them),
// on an error, or when nothing arrives within 30 s.
// Usage: node .ci/subscribe.mjs ws://127.0.0.1:8000/graphql "Bearer eyJ..."
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, authorization] = process.argv.slice(2);
const frames = { text: 0, binary: 0 };

class CountingWebSocket extends WebSocket {
  constructor(...args) {
    super(...args);
    this.on("message", (_data, isBinary) => (isBinary ? frames.binary++ : frames.text++));
  }
}

const fail = (why) => {
  console.error(`subscription failed: ${why} (frames: ${JSON.stringify(frames)})`);
  process.exit(1);
};
setTimeout(() => fail("no change within 30 s"), 30_000).unref();

const client = createClient({
  url,
  webSocketImpl: CountingWebSocket,
  connectionParams: { Authorization: authorization },
  retryAttempts: 0,
  lazy: false,
  onNonLazyError: (error) => fail(`connection: ${error?.reason ?? error}`),
});
const query =
  "subscription { balanceChanged(sinceVersion: 0) { available version entry { kind points } } }";
client.subscribe(
  { query },
  {
    next: async (message) => {
      if (message.errors) fail(JSON.stringify(message.errors));
      if (frames.binary) fail("a binary frame");
      const change = message.data.balanceChanged;
      console.log(
        `balanceChanged: version ${change.version}, available ${change.available} ` +
          `(${frames.text} text frames, ${frames.binary} binary)`,
      );
      await client.dispose();
      process.exit(0);
    },
    error: (error) => fail(error?.reason ?? JSON.stringify(error)),
    complete: () => fail("completed before any change"),
  },
);
