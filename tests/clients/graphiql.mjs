// GraphiQL as a developer uses it: the page opened in headless Chromium, operations typed into
// its editor and run with its Run button.
//
// Reads {url, executablePath, headers, operations: [{query, waitFor}], screenshot} as JSON on
// stdin. `headers` go where GraphiQL keeps its headers editor's (HTTP requests send them, the
// page's WebSocket client passes them as connectionParams). After each run, waits until the
// response pane shows `waitFor` (or 30 s). Prints one JSON object: {editor} whether the query
// editor appeared, {problems} console errors and failed requests, {responses} the response
// pane after each operation.
import { chromium } from "playwright-core";

const WAIT_MS = 30_000;

let input = "";
for await (const chunk of process.stdin) input += chunk;
const { url, executablePath, headers = {}, operations = [], screenshot } = JSON.parse(input);

const QUERY_EDITOR = ".graphiql-query-editor .CodeMirror";
const RESPONSE = ".graphiql-response .CodeMirror";
const editorText = (selector) => document.querySelector(selector)?.CodeMirror.getValue();

const browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
const report = { editor: false, problems: [], responses: [] };
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  page.on("console", (message) => {
    if (message.type() === "error") {
      report.problems.push(`console: ${message.text()} (${message.location().url})`);
    }
  });
  page.on("pageerror", (error) => report.problems.push(`page error: ${error.message}`));
  page.on("requestfailed", (request) =>
    report.problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`),
  );
  page.on("response", (response) => {
    if (response.status() >= 400) report.problems.push(`${response.status()}: ${response.url()}`);
  });
  await page.addInitScript((stored) => {
    localStorage.setItem("graphiql:headers", stored);
  }, JSON.stringify(headers, null, 2));

  await page.goto(url);
  await page.locator(QUERY_EDITOR).waitFor({ timeout: WAIT_MS });
  report.editor = true;
  for (const { query, waitFor } of operations) {
    await page.evaluate(
      ([selector, text]) => document.querySelector(selector).CodeMirror.setValue(text),
      [QUERY_EDITOR, query],
    );
    // GraphiQL parses the editor's text a moment later; until then Run would send the last
    // document (a subscription by HTTP, say).
    await page.waitForFunction(
      ([selector, text]) =>
        document.querySelector(selector).CodeMirror.documentAST?.loc?.source.body === text,
      [QUERY_EDITOR, query],
      { timeout: WAIT_MS },
    );
    await page.click(".graphiql-execute-button");
    await page
      .waitForFunction(
        ([selector, text]) =>
          document.querySelector(selector)?.CodeMirror.getValue().includes(text),
        [RESPONSE, waitFor],
        { timeout: WAIT_MS },
      )
      .catch(() => {}); // the response shown is reported either way
    report.responses.push(await page.evaluate(editorText, RESPONSE));
  }
  if (screenshot) await page.screenshot({ path: screenshot });
} catch (error) {
  report.problems.push(`driver: ${error.message}`);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
