// The brand's insights dashboard: read-only, for an ANALYST or ADMIN token (kept in
// sessionStorage). It asks /graphql for the `insights` figures, shows them as tables and draws
// them with Chart.js (vendored beside this file). No build step: plain browser JavaScript.
"use strict";

const TOKEN_KEY = "pointsmall:insights:token";
const DEFAULT_DAYS = 30;
const TOP_ITEMS = 10;
const FORECAST_MONTHS = 60; // the most the API forecasts; shown up to the last month due
const FORECAST_AT_LEAST = 12;
const REFUSALS = new Set(["UNAUTHENTICATED", "FORBIDDEN"]);

// What does not depend on the period: today's liability, the forecast, the segments.
const OVERVIEW = `query InsightsOverview($months: Int!) {
  insights {
    currency pointValue rolledUpAt
    liability { asOf points amount byExpiryMonth { month points amount } }
    expiringForecast(months: $months) { month points amount }
    segments { refreshedAt segments { segment members spend } }
  }
}`;

const PERIOD = `query InsightsPeriod($from: Date!, $to: Date!, $groupBy: InsightGroupBy!) {
  insights {
    earnBurn(from: $from, to: $to, groupBy: $groupBy) {
      key label earned redeemed expired adjusted reversed
    }
    redemptions(from: $from, to: $to) { items { sku name category units points cash } }
    members(from: $from, to: $to) { active new tiers { tierCode tierName members } }
  }
}`;

const $ = (selector) => document.querySelector(selector);
const numbers = new Intl.NumberFormat("en-US");
const charts = {};
const WHOLE_NUMBERS = { ticks: { precision: 0 } }; // an axis of counts: no 0.5 members

class GraphQLError extends Error {
  constructor(message, code) {
    super(message);
    this.code = code;
  }
}

function points(value) {
  return numbers.format(value);
}

function month(isoDate) {
  return isoDate.slice(0, 7);
}

function segmentName(segment) {
  const words = segment.toLowerCase().replaceAll("_", " ");
  return words[0].toUpperCase() + words.slice(1);
}

function untilLastDue(forecast) {
  let end = forecast.length;
  while (end > FORECAST_AT_LEAST && forecast[end - 1].points === 0) end -= 1;
  return forecast.slice(0, end);
}

function daysBefore(isoDate, days) {
  const day = new Date(`${isoDate}T00:00:00Z`);
  day.setUTCDate(day.getUTCDate() - days);
  return day.toISOString().slice(0, 10);
}

async function graphql(query, variables) {
  const response = await fetch("/graphql", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${sessionStorage.getItem(TOKEN_KEY)}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch {
    throw new GraphQLError(`The server answered ${response.status} without figures.`, "HTTP");
  }
  if (body.errors?.length) {
    const [first] = body.errors;
    throw new GraphQLError(first.message, first.extensions?.code ?? "ERROR");
  }
  return body.data.insights;
}

function showState(state, message = "") {
  document.body.dataset.state = state;
  const signedIn = state === "loading" || state === "ready" || state === "error";
  $("#sign-in").hidden = signedIn;
  $("#sign-out").hidden = !signedIn;
  $("#dashboard").hidden = !signedIn;
  $("#error").hidden = !message;
  $("#error").textContent = message;
}

function fillTable(name, rows) {
  const body = $(`table[data-table="${name}"] tbody`);
  body.replaceChildren(
    ...rows.map((cells) => {
      const row = document.createElement("tr");
      for (const text of cells) {
        const cell = document.createElement("td");
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

function setTotal(name, text, value) {
  const total = $(`[data-total="${name}"]`);
  total.textContent = text;
  total.dataset.value = String(value);
}

function draw(id, type, labels, datasets, options = {}) {
  charts[id]?.destroy();
  charts[id] = new Chart($(`#${id}`), {
    type,
    data: { labels, datasets },
    options: { animation: false, maintainAspectRatio: false, ...options },
  });
}

function showOverview(insights) {
  const { currency, pointValue, liability } = insights;
  $("#brand-line").textContent = `Amounts in ${currency}, at ${pointValue} a point`;
  $("#rolled-up").textContent = insights.rolledUpAt
    ? `Ledger figures as of ${new Date(insights.rolledUpAt).toLocaleString()}`
    : "The ledger has not been rolled up yet.";
  setTotal("liability-points", points(liability.points), liability.points);
  setTotal("liability-amount", `${currency} ${liability.amount}`, liability.amount);
  const byMonth = liability.byExpiryMonth;
  fillTable("liability", byMonth.map((m) => [month(m.month), points(m.points), m.amount]));
  draw("liability-chart", "bar", byMonth.map((m) => month(m.month)), [
    { label: "Points by expiry month", data: byMonth.map((m) => m.points) },
  ]);
  const forecast = untilLastDue(insights.expiringForecast);
  fillTable("forecast", forecast.map((m) => [month(m.month), points(m.points), m.amount]));
  draw("forecast-chart", "bar", forecast.map((m) => month(m.month)), [
    { label: "Points due to expire", data: forecast.map((m) => m.points) },
  ]);
  const { segments, refreshedAt } = insights.segments;
  fillTable("segments", segments.map((s) => [segmentName(s.segment), points(s.members), s.spend]));
  draw("segments-chart", "bar", segments.map((s) => segmentName(s.segment)), [
    { label: "Members", data: segments.map((s) => s.members) },
  ], { scales: { y: WHOLE_NUMBERS } });
  $("#segments-scored").textContent = refreshedAt
    ? `Scored ${new Date(refreshedAt).toLocaleString()}`
    : "Not scored yet.";
}

const MOVEMENTS = ["earned", "redeemed", "expired", "adjusted", "reversed"];

function showPeriod(insights) {
  const rows = insights.earnBurn;
  fillTable("earn-burn", rows.map((r) => [r.label, ...MOVEMENTS.map((k) => points(r[k]))]));
  draw(
    "earn-burn-chart",
    "bar",
    rows.map((r) => r.label),
    MOVEMENTS.map((k) => ({ label: k, data: rows.map((r) => r[k]) })),
  );
  const items = insights.redemptions.items.slice(0, TOP_ITEMS);
  fillTable("items", items.map((i) => [i.name, i.category, points(i.units), points(i.points), i.cash]));
  draw("items-chart", "bar", items.map((i) => i.name), [
    { label: "Units redeemed", data: items.map((i) => i.units) },
  ], { indexAxis: "y", scales: { x: WHOLE_NUMBERS } });
  const { active, tiers } = insights.members;
  setTotal("active-members", points(active), active);
  setTotal("new-members", points(insights.members.new), insights.members.new);
  fillTable("tiers", tiers.map((t) => [t.tierName, points(t.members)]));
  draw("tiers-chart", "doughnut", tiers.map((t) => t.tierName), [
    { label: "Members", data: tiers.map((t) => t.members) },
  ]);
}

function showFailure(error) {
  if (REFUSALS.has(error.code)) {
    sessionStorage.removeItem(TOKEN_KEY);
    showState(
      "refused",
      `Refused (${error.code}): ${error.message} Sign in with an ANALYST or ADMIN token of the brand.`,
    );
  } else {
    showState("error", `Could not load the figures (${error.code ?? "ERROR"}): ${error.message}`);
  }
}

async function load() {
  showState("loading");
  try {
    const overview = await graphql(OVERVIEW, { months: FORECAST_MONTHS });
    showOverview(overview);
    if (!$("#to").value) {
      // The brand's today (in its timezone), as the server counts it.
      $("#to").value = overview.liability.asOf;
      $("#from").value = daysBefore(overview.liability.asOf, DEFAULT_DAYS - 1);
    }
    await loadPeriod();
  } catch (error) {
    showFailure(error);
  }
}

async function loadPeriod() {
  showState("loading");
  try {
    const variables = { from: $("#from").value, to: $("#to").value, groupBy: $("#group-by").value };
    showPeriod(await graphql(PERIOD, variables));
    showState("ready");
  } catch (error) {
    showFailure(error);
  }
}

$("#sign-in").addEventListener("submit", (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("#token").value.trim().replace(/^Bearer\s+/i, ""));
  $("#token").value = "";
  load();
});

$("#sign-out").addEventListener("click", () => {
  sessionStorage.removeItem(TOKEN_KEY);
  showState("signed-out");
});

$("#period").addEventListener("submit", (event) => {
  event.preventDefault();
  loadPeriod();
});

if (sessionStorage.getItem(TOKEN_KEY)) load();
