// The insights page as an analyst uses it: opened in headless Chromium, a token pasted into
// its sign-in form, the figures awaited.
//
// Reads {url, executablePath, sessions: [{token, screenshot}]} as JSON on stdin; each session
// is a fresh browser context (its own sessionStorage). Prints one JSON object: {sessions}, per
// session: {state} the page's data-state once settled, {error} its alert, {period} the period
// it shows, {totals} and {tables} the figures as shown, {charts} per canvas its Chart.js type,
// labels and datasets, how many pixels it painted and which non-zero data points it left
// unpainted, {requests} every URL the page asked for, {problems} console errors, page errors,
// failed requests and answers >= 400.
import { chromium } from "playwright-core";

const WAIT_MS = 30_000;
const SETTLED = ["ready", "refused", "error"];

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url, executablePath, sessions } = JSON.parse(input);

// Runs in the page: what it shows, and what each chart drew.
function shown() {
  const text = (element) => element.textContent.trim();
  const tables = {};
  for (const table of document.querySelectorAll("table[data-table]")) {
    tables[table.dataset.table] = [...table.querySelectorAll("tbody tr")].map((row) =>
      [...row.cells].map(text),
    );
  }
  const totals = {};
  for (const total of document.querySelectorAll("[data-total]")) {
    totals[total.dataset.total] = { text: text(total), value: total.dataset.value ?? null };
  }
  const charts = {};
  for (const canvas of document.querySelectorAll("canvas")) {
    const chart = Chart.getChart(canvas);
    if (!chart) {
      charts[canvas.id] = null;
      continue;
    }
    const context = canvas.getContext("2d");
    const pixels = context.getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let alpha = 3; alpha < pixels.length; alpha += 4) if (pixels[alpha] > 0) painted += 1;
    const ratio = chart.currentDevicePixelRatio;
    const unpainted = [];
    chart.data.datasets.forEach((dataset, index) => {
      chart.getDatasetMeta(index).data.forEach((element, position) => {
        if (!dataset.data[position]) return;
        const { x, y } = element.getCenterPoint();
        const [, , , alpha] = context.getImageData(Math.round(x * ratio), Math.round(y * ratio), 1, 1).data;
        if (alpha === 0) unpainted.push([index, position]);
      });
    });
    charts[canvas.id] = {
      type: chart.config.type,
      labels: chart.data.labels,
      datasets: chart.data.datasets.map(({ label, data }) => ({ label, data })),
      painted,
      unpainted,
    };
  }
  const alert = document.querySelector("#error");
  return {
    state: document.body.dataset.state,
    error: alert.hidden ? null : text(alert),
    dashboardShown: !document.querySelector("#dashboard").hidden,
    period: {
      from: document.querySelector("#from").value,
      to: document.querySelector("#to").value,
      groupBy: document.querySelector("#group-by").value,
    },
    totals,
    tables,
    charts,
  };
}

async function visit(browser, { token, screenshot }) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
  const page = await context.newPage();
  const problems = [];
  const requests = [];
  page.on("console", (message) => {
    if (message.type() === "error") {
      problems.push(`console: ${message.text()} (${message.location().url})`);
    }
  });
  page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  page.on("request", (request) => requests.push(request.url()));
  page.on("requestfailed", (request) =>
    problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`),
  );
  page.on("response", (response) => {
    if (response.status() >= 400) problems.push(`${response.status()}: ${response.url()}`);
  });
  try {
    await page.goto(url);
    await page.fill("#token", token);
    await page.click("#sign-in button[type=submit]");
    await page.waitForFunction(
      (states) => states.includes(document.body.dataset.state),
      SETTLED,
      { timeout: WAIT_MS },
    );
    const report = await page.evaluate(shown);
    if (screenshot) await page.screenshot({ path: screenshot, fullPage: true });
    return { ...report, requests, problems };
  } catch (error) {
    problems.push(`driver: ${error.message}`);
    return { requests, problems };
  } finally {
    await context.close();
  }
}

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const report = { sessions: [] };
try {
  for (const session of sessions) report.sessions.push(await visit(browser, session));
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
