// Many graphql-transport-ws subscribers in one Node process, driven by bench/subscriptions.py.
//
// Commands come as JSON lines on stdin, each with an `id`; each is answered by one JSON line on
// stdout with the same `id` (and `error` when it failed). Every `next` message that arrives is
// recorded with its arrival time on the machine's wall clock (ms since the epoch, sub-ms:
// performance.timeOrigin + performance.now(), comparable with Python's time.time() * 1000):
//
//   open     {kind, url, query, subs: [{key, token, variables}], concurrency, timeoutMs}
//            opens one socket per sub (connection_init with {Authorization: "Bearer <token>"},
//            then one subscribe) and answers once each has had its first `next` (or failed)
//   storm    {kind, url, query, timeoutMs} drops every socket of `kind` at once and opens them
//            all again at once, each subscribing with sinceVersion = the last version it saw;
//            answers once each is acknowledged (its events keep being recorded)
//   collect  {} the events recorded since the last collect, as [key, value, t, generation]
//            (value: a balance's version, a stock's remainingStock, or 0), and errors seen
//   close    {kind} closes the sockets of `kind`, answers once they are closed
//   stats    {} sockets open, this process's CPU and RSS
//
// Plain `ws` rather than the graphql-ws client: a few hundred bytes a socket and no per-message
// machinery, so that 5,000 sockets in a process or two leave the cores to the server.
import WebSocket from "ws";
import { createInterface } from "node:readline";

const PROTOCOL = "graphql-transport-ws";
const now = () => performance.timeOrigin + performance.now();

const subs = new Map(); // key -> Sub
let events = []; // [key, value, t, generation]
let errors = []; // {key, what}
const ERRORS_KEPT = 50;
let errorCount = 0;

function reply(message) {
  process.stdout.write(JSON.stringify(message) + "\n");
}

function noteError(key, what) {
  errorCount += 1;
  if (errors.length < ERRORS_KEPT) errors.push({ key, what });
}

// The value a `next` payload carries, per kind of subscription.
function valueOf(kind, payload) {
  const data = payload && payload.data;
  if (!data) return null;
  if (kind === "balance") return data.balanceChanged ? data.balanceChanged.version : null;
  if (kind === "stock") return data.flashSaleStock ? data.flashSaleStock.remainingStock : null;
  return 0;
}

class Sub {
  constructor(kind, key, token, variables) {
    this.kind = kind;
    this.key = key;
    this.token = token;
    this.variables = variables || {};
    this.ws = null;
    this.generation = 0;
    this.lastVersion = this.variables.sinceVersion ?? null;
    this.acked = false;
    this.ready = false;
    this.failed = false;
  }

  // Opens a socket and subscribes; calls back once acknowledged and once ready (first `next`),
  // or with failed = true when the socket errs or closes first.
  connect(url, query, variables, onAck, onReady) {
    this.generation += 1;
    const generation = this.generation;
    this.acked = this.ready = this.failed = false;
    const ws = new WebSocket(url, PROTOCOL, { perMessageDeflate: false });
    this.ws = ws;
    let settled = false;
    const settle = (failed) => {
      if (settled) return;
      settled = true;
      this.failed = failed;
      onReady(this);
    };
    let ackSettled = false;
    const ack = (failed) => {
      if (ackSettled) return;
      ackSettled = true;
      onAck(this, failed);
    };
    ws.on("open", () => {
      ws.send(
        JSON.stringify({
          type: "connection_init",
          payload: { Authorization: `Bearer ${this.token}` },
        }),
      );
    });
    ws.on("message", (data) => {
      const t = now();
      let message;
      try {
        message = JSON.parse(data.toString());
      } catch {
        noteError(this.key, "not JSON");
        return;
      }
      switch (message.type) {
        case "connection_ack":
          this.acked = true;
          ws.send(
            JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }),
          );
          ack(false);
          break;
        case "next": {
          const value = valueOf(this.kind, message.payload);
          if (message.payload && message.payload.errors) {
            noteError(this.key, JSON.stringify(message.payload.errors).slice(0, 300));
          }
          if (value === null) break;
          if (this.kind === "balance") this.lastVersion = value;
          events.push([this.key, value, t, generation]);
          this.ready = true;
          settle(false);
          break;
        }
        case "ping":
          ws.send(JSON.stringify({ type: "pong" }));
          break;
        case "pong":
          break;
        case "error":
          noteError(this.key, JSON.stringify(message.payload).slice(0, 300));
          settle(true);
          break;
        case "complete":
          noteError(this.key, "complete");
          settle(true);
          break;
        default:
          noteError(this.key, `unexpected ${message.type}`);
      }
    });
    ws.on("error", (error) => {
      if (generation === this.generation) noteError(this.key, `socket: ${error.message}`);
    });
    ws.on("close", (code, reason) => {
      if (generation !== this.generation || ws.benchClosing) return;
      noteError(this.key, `closed ${code} ${reason}`);
      ack(true);
      settle(true);
    });
  }
}

// Runs `start(sub, done)` for each sub, at most `concurrency` not yet done at a time.
function throttled(items, concurrency, start) {
  return new Promise((resolve) => {
    let next = 0;
    let done = 0;
    if (items.length === 0) resolve();
    const launch = () => {
      while (next < items.length && next - done < concurrency) {
        const item = items[next++];
        start(item, () => {
          done += 1;
          if (done === items.length) resolve();
          else launch();
        });
      }
    };
    launch();
  });
}

function withTimeout(promise, ms) {
  let timer;
  const timeout = new Promise((resolve) => {
    timer = setTimeout(() => resolve("timeout"), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function open({ kind, url, query, subs: wanted, concurrency = 500, timeoutMs = 120000 }) {
  const started = now();
  const created = wanted.map(({ key, token, variables }) => {
    const sub = new Sub(kind, key, token, variables);
    subs.set(key, sub);
    return sub;
  });
  const all = throttled(created, concurrency, (sub, done) =>
    sub.connect(url, query, sub.variables, () => {}, done),
  );
  const outcome = await withTimeout(all, timeoutMs);
  return {
    ready: created.filter((sub) => sub.ready).length,
    failed: created.filter((sub) => !sub.ready).length,
    timedOut: outcome === "timeout",
    ms: now() - started,
  };
}

async function storm({ kind, url, query, timeoutMs = 120000 }) {
  const chosen = [...subs.values()].filter((sub) => sub.kind === kind);
  const since = {};
  for (const sub of chosen) {
    sub.ws.benchClosing = true;
    sub.ws.terminate();
  }
  const started = now();
  let lastAck = started;
  const acks = chosen.map(
    (sub) =>
      new Promise((resolve) => {
        const variables = { ...sub.variables, sinceVersion: sub.lastVersion };
        since[sub.key] = sub.lastVersion;
        sub.connect(
          url,
          query,
          variables,
          (_, failed) => {
            if (!failed) lastAck = now();
            resolve();
          },
          () => {},
        );
      }),
  );
  const outcome = await withTimeout(Promise.all(acks), timeoutMs);
  return {
    started,
    lastAck,
    acked: chosen.filter((sub) => sub.acked).length,
    failed: chosen.filter((sub) => !sub.acked).length,
    timedOut: outcome === "timeout",
    since,
  };
}

async function close({ kind }) {
  const chosen = [...subs.values()].filter((sub) => sub.kind === kind);
  await Promise.all(
    chosen.map(
      (sub) =>
        new Promise((resolve) => {
          const ws = sub.ws;
          subs.delete(sub.key);
          if (!ws || ws.readyState === WebSocket.CLOSED) return resolve();
          ws.benchClosing = true;
          ws.once("close", resolve);
          ws.close(1000);
          setTimeout(() => {
            ws.terminate();
            resolve();
          }, 5000);
        }),
    ),
  );
  return { closed: chosen.length };
}

function collect() {
  const found = { events, errors, errorCount };
  events = [];
  errors = [];
  errorCount = 0;
  return found;
}

function stats() {
  let open = 0;
  for (const sub of subs.values()) if (sub.ws && sub.ws.readyState === WebSocket.OPEN) open += 1;
  const cpu = process.cpuUsage();
  return { open, cpuSeconds: (cpu.user + cpu.system) / 1e6, rss: process.memoryUsage().rss };
}

const commands = { open, storm, close, collect, stats };

for await (const line of createInterface({ input: process.stdin })) {
  if (!line.trim()) continue;
  const { id, cmd, ...args } = JSON.parse(line);
  const handler = commands[cmd];
  if (!handler) {
    reply({ id, error: `unknown command ${cmd}` });
    continue;
  }
  // Not awaited: a long command (open, storm) never holds back the next (collect, stats).
  Promise.resolve()
    .then(() => handler(args))
    .then(
      (result) => reply({ id, ...result }),
      (error) => reply({ id, error: String(error && error.stack ? error.stack : error) }),
    );
}
process.exit(0); // stdin closed: the bench is done with us
