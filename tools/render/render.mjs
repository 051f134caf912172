// render.mjs checks spresponder's Teams card and owner email with real
// renderers, offline:
//
//   - each card (the Workflows payload {"type":"message","attachments":[...]})
//     is parsed by the Adaptive Cards JS library (npm adaptivecards, with
//     markdown-it for the Markdown Teams renders), against the card's own
//     schema version; every parse warning and validation error is collected;
//     the card is rendered to HTML in headless Chromium and, when asked,
//     screenshotted;
//   - each email HTML is loaded in headless Chromium and, when asked,
//     screenshotted;
//   - each report page (notify.RenderReportPage) is loaded in headless
//     Chromium at its width and checked: a title, a viewport meta, no
//     script, nothing loaded from elsewhere, nothing wider than the window
//     (readable at phone width without scrolling sideways); when asked,
//     screenshotted.
//
// A card or page item may name the window width in CSS pixels ("width";
// cards default to ${CARD_WIDTH} px plus margins, pages to 1280); a card
// wider than the window fails the check too.
//
// Chromium is driven directly: a page on disk loads the libraries from
// node_modules over file://, writes its findings into the DOM, and
// `--dump-dom` reads them back; a second run takes the screenshot at the
// measured height. Every run gets a fresh profile directory.
//
// Usage: node render.mjs job.json
//
//   job.json: {
//     "chromium": "/usr/bin/chromium",                  (optional)
//     "cards":  [{"name": "example", "path": "card.json", "png": "out.png"}],
//     "emails": [{"name": "example", "path": "email.html", "png": "out.png"}],
//     "pages":  [{"name": "example", "path": "page.html", "png": "out.png", "width": 390}]
//   }
//
// It prints {"cards":[{name, warnings[], errors[], height, width, elements}],
// "emails":[{name, errors[], height}], "pages":[{name, errors[], height,
// width}]} on stdout and exits 1 when any card, email or page has a
// warning or an error, 2 when the harness itself failed.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const lib = (p) => pathToFileURL(path.join(here, "node_modules", p)).href;
const CARD_WIDTH = 720; // about a Teams channel card at "Full" width on a laptop
const EMAIL_WIDTH = 760;
const MAX_HEIGHT = 16000;
// Headless Chromium will not make a window narrower than this. A page
// checked at a phone's width is loaded in a frame of that width inside a
// window of MIN_WINDOW; its screenshot is MIN_WINDOW wide with the page on
// the left (tools/screenshots crops it).
const MIN_WINDOW = 500;

// A host config close to Teams' light theme, so the screenshot looks like
// what owners see. Rendering correctness does not depend on it.
const hostConfig = {
  fontFamily: "'Segoe UI', 'Helvetica Neue', 'DejaVu Sans', Arial, sans-serif",
  supportsInteractivity: true,
  spacing: { small: 4, default: 8, medium: 16, large: 20, extraLarge: 28, padding: 16 },
  separator: { lineThickness: 1, lineColor: "#E1DFDD" },
  fontSizes: { small: 12, default: 14, medium: 16, large: 20, extraLarge: 24 },
  fontWeights: { lighter: 300, default: 400, bolder: 600 },
  containerStyles: {
    default: {
      backgroundColor: "#FFFFFF",
      foregroundColors: {
        default: { default: "#242424", subtle: "#616161" },
        accent: { default: "#5B5FC7", subtle: "#5B5FC7" },
        good: { default: "#0E700E", subtle: "#0E700E" },
        warning: { default: "#835B00", subtle: "#835B00" },
        attention: { default: "#C4314B", subtle: "#C4314B" },
      },
    },
    emphasis: { backgroundColor: "#F5F5F5" },
    good: { backgroundColor: "#E7F2DA" },
    warning: { backgroundColor: "#FFF4CE" },
    attention: { backgroundColor: "#FDE7E9" },
    accent: { backgroundColor: "#E8EBFA" },
  },
  actions: {
    maxActions: 6,
    spacing: "default",
    buttonSpacing: 8,
    actionsOrientation: "horizontal",
    actionAlignment: "left",
    showCard: { actionMode: "inline", inlineTopMargin: 8 },
  },
  factSet: { title: { weight: "bolder", wrap: true, maxWidth: 220 }, value: { wrap: true }, spacing: 8 },
};

function chromium(bin, profileRoot, args) {
  const profile = fs.mkdtempSync(path.join(profileRoot, "profile-"));
  return execFileSync(
    bin,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--no-default-browser-check",
      "--hide-scrollbars",
      "--allow-file-access-from-files",
      `--user-data-dir=${profile}`,
      ...args,
    ],
    { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 90_000, maxBuffer: 64 << 20 },
  );
}

// readResult extracts the JSON the page wrote into <pre id="result">.
function readResult(dom) {
  const m = dom.match(/<pre id="result"[^>]*>([\s\S]*?)<\/pre>/);
  if (!m) throw new Error("the page wrote no result (did the scripts load?)");
  const text = m[1].replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, "&");
  return JSON.parse(text);
}

function cardPage(payloadText, hostWidth) {
  // The payload is embedded as JSON in a script element; "</" is escaped so
  // that no card text can close the element.
  const embedded = payloadText.replace(/<\//g, "<\\/");
  return `<!DOCTYPE html>
<html><head><meta charset="utf-8">
<style>
  body { margin: 0; background: #F5F5F5; }
  #host { width: ${hostWidth}px; margin: 16px; background: #FFFFFF; border: 1px solid #E1DFDD; border-radius: 6px; overflow: hidden; }
  #result { display: none; }
</style>
<script src="${lib("markdown-it/dist/markdown-it.min.js")}"></script>
<script src="${lib("adaptivecards/dist/adaptivecards.min.js")}"></script>
</head><body>
<div id="host"></div>
<pre id="result"></pre>
<script type="application/json" id="payload">${embedded}</script>
<script>
(function () {
  const result = { warnings: [], errors: [], height: 0, elements: {} };
  const done = () => { document.getElementById("result").textContent = JSON.stringify(result); };
  window.addEventListener("error", (e) => { result.errors.push("page error: " + e.message); done(); });
  try {
    if (typeof AdaptiveCards === "undefined") throw new Error("adaptivecards did not load");
    if (typeof markdownit === "undefined") throw new Error("markdown-it did not load");
    const payload = JSON.parse(document.getElementById("payload").textContent);
    // The Workflows envelope.
    if (payload.type !== "message") result.errors.push('envelope: type must be "message"');
    if (!Array.isArray(payload.attachments) || payload.attachments.length !== 1) result.errors.push("envelope: expected exactly one attachment");
    const att = (payload.attachments || [])[0] || {};
    if (att.contentType !== "application/vnd.microsoft.card.adaptive") result.errors.push("envelope: contentType must be application/vnd.microsoft.card.adaptive");
    if (!("contentUrl" in att) || att.contentUrl !== null) result.errors.push("envelope: contentUrl must be null");
    const content = att.content || {};
    if (content.type !== "AdaptiveCard") result.errors.push("card: type must be AdaptiveCard");

    // Parse against the card's own version: a property or element newer
    // than the declared version is reported, as an older Teams client
    // would drop it.
    const ctx = new AdaptiveCards.SerializationContext();
    const v = AdaptiveCards.Versions["v" + String(content.version || "").replace(".", "_")];
    if (!v) result.errors.push("card: unknown version " + content.version);
    else ctx.targetVersion = v;
    const card = new AdaptiveCards.AdaptiveCard();
    card.hostConfig = new AdaptiveCards.HostConfig(${JSON.stringify(hostConfig)});
    card.parse(content, ctx);
    for (let i = 0; i < ctx.eventCount; i++) {
      const e = ctx.getEventAt(i);
      result.warnings.push("parse: " + AdaptiveCards.ValidationEvent[e.event] + ": " + e.message);
    }
    for (const e of card.validateProperties().validationEvents) {
      result.errors.push("validate: " + AdaptiveCards.ValidationEvent[e.event] + ": " + e.message);
    }
    const el = card.render();
    if (!el) {
      result.errors.push("render: the card rendered to nothing");
    } else {
      document.getElementById("host").appendChild(el);
      // Every element of the JSON must have been rendered: an element
      // the library does not know is silently dropped or replaced.
      const want = {};
      let facts = 0;
      let columns = 0;
      const allActions = [...(content.actions || [])];
      const walk = (items) => (items || []).forEach((it) => {
        want[it.type] = (want[it.type] || 0) + 1;
        if (it.type === "ActionSet") allActions.push(...(it.actions || []));
        facts += (it.facts || []).length;
        walk(it.items);
        (it.columns || []).forEach((c) => { columns++; walk(c.items); });
      });
      walk(content.body);
      const classes = { TextBlock: ".ac-textBlock", FactSet: ".ac-factset", Container: ".ac-container", ColumnSet: ".ac-columnSet", ActionSet: ".ac-actionSet" };
      for (const [type, n] of Object.entries(want)) {
        const sel = classes[type];
        if (!sel) { result.errors.push("check: no rendering check for element type " + type); continue; }
        const got = el.querySelectorAll(sel).length;
        result.elements[type] = got;
        // A FactSet renders each fact's title and value as text blocks; a
        // Column is a kind of Container.
        // The card's own actions render as an action set too.
        const expected = type === "TextBlock" ? n + 2 * facts : type === "Container" ? n + columns :
          type === "ActionSet" ? n + ((content.actions || []).length ? 1 : 0) : n;
        if (got !== expected) result.errors.push("render: " + type + ": " + n + " in the JSON, " + got + " rendered");
      }
      const actions = el.querySelectorAll(".ac-pushButton").length;
      if (actions !== allActions.length) result.errors.push("render: " + allActions.length + " actions in the JSON, " + actions + " rendered");
      if (el.innerText.trim().length === 0) result.errors.push("render: the card shows no text");
      // The card's text has no links of its own (links are actions, which
      // render as buttons): an anchor means Markdown in incident-derived
      // text was not escaped.
      for (const a of el.querySelectorAll("a")) result.errors.push("render: card text produced a link to " + a.getAttribute("href"));
      for (const x of el.querySelectorAll("script, iframe, img")) result.errors.push("render: card text produced a <" + x.tagName.toLowerCase() + "> element");
      const host = document.getElementById("host");
      result.height = Math.ceil(host.getBoundingClientRect().bottom + 16);
      result.width = ${hostWidth + 32};
      // Wider than its place: a reader would scroll sideways.
      if (el.scrollWidth > host.clientWidth) result.errors.push("render: the card is " + el.scrollWidth + " px wide in a " + host.clientWidth + " px place");
      // A button past the card's edge is cut off (the card clips it).
      const edge = host.getBoundingClientRect().right;
      for (const b of el.querySelectorAll(".ac-pushButton")) {
        const r = b.getBoundingClientRect();
        if (r.right > edge + 0.5) result.errors.push("render: button '" + b.textContent.trim() + "' does not fit: it ends at " + Math.ceil(r.right) + " px, the card at " + Math.floor(edge) + " px");
      }
      // Workflows webhooks post as the flow, not a bot: Action.Execute and
      // Action.Submit would do nothing; links are all a card can offer.
      for (const a of allActions) {
        if (a.type !== "Action.OpenUrl") result.errors.push("card: " + a.type + " cannot work from a Workflows webhook (no bot); use Action.OpenUrl");
      }
    }
  } catch (e) {
    result.errors.push("exception: " + (e && e.stack ? e.stack.split("\\n")[0] : String(e)));
  }
  done();
})();
</script>
</body></html>
`;
}

const MEASURE = `<pre id="result" style="display:none"></pre><script>
document.getElementById("result").textContent = JSON.stringify({
  height: Math.ceil(Math.max(document.body.scrollHeight, document.body.getBoundingClientRect().bottom)),
  scrollWidth: Math.ceil(document.documentElement.scrollWidth),
  innerWidth: window.innerWidth,
  viewport: !!document.querySelector('meta[name="viewport"][content*="width=device-width"]'),
  title: (document.querySelector("h1") || {}).textContent || "",
  scripts: document.querySelectorAll("script").length - 1,
  external: Array.from(document.querySelectorAll("img[src],link[href],iframe[src]")).map((e) => e.src || e.href)
});
if (window.parent !== window) window.parent.postMessage(document.getElementById("result").textContent, "*");
</script>`;

// framePage holds a page at a width narrower than MIN_WINDOW, and copies
// the page's measurements (posted by MEASURE) into its own result.
function framePage(src, width, height) {
  return `<!DOCTYPE html><html><head><meta charset="utf-8"><style>body{margin:0;background:#fff}iframe{display:block;border:0;width:${width}px;height:${height}px}#result{display:none}</style></head>
<body><iframe src="${src}"></iframe><pre id="result"></pre>
<script>window.addEventListener("message", (e) => { document.getElementById("result").textContent = e.data; });</script></body></html>`;
}

function main() {
  const jobPath = process.argv[2];
  if (!jobPath) {
    console.error("usage: node render.mjs job.json");
    process.exit(2);
  }
  const job = JSON.parse(fs.readFileSync(jobPath, "utf8"));
  const bin = job.chromium || "/usr/bin/chromium";
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "spresponder-render-"));
  const out = { cards: [], emails: [], pages: [] };
  let bad = false;
  try {
    for (const c of job.cards || []) {
      const width = c.width || CARD_WIDTH + 32;
      const winSize = Math.max(width, MIN_WINDOW);
      const page = path.join(work, `card-${c.name}-${width}.html`);
      fs.writeFileSync(page, cardPage(fs.readFileSync(c.path, "utf8"), width - 32));
      const url = pathToFileURL(page).href;
      const res = readResult(chromium(bin, work, ["--virtual-time-budget=10000", `--window-size=${winSize},2000`, "--dump-dom", url]));
      res.name = c.name;
      if (c.png && res.errors.length === 0) {
        const h = Math.min(Math.max(res.height, 200), MAX_HEIGHT);
        chromium(bin, work, ["--virtual-time-budget=10000", `--window-size=${winSize},${h}`, `--screenshot=${c.png}`, url]);
        if (!fs.existsSync(c.png)) res.errors.push("screenshot: chromium wrote no file");
      }
      if (res.warnings.length || res.errors.length) bad = true;
      out.cards.push(res);
    }
    for (const e of job.emails || []) {
      const html = fs.readFileSync(e.path, "utf8");
      const page = path.join(work, `email-${e.name}.html`);
      fs.writeFileSync(page, html.includes("</body>") ? html.replace("</body>", MEASURE + "</body>") : html + MEASURE);
      const url = pathToFileURL(page).href;
      const m = readResult(chromium(bin, work, ["--virtual-time-budget=10000", `--window-size=${EMAIL_WIDTH},2000`, "--dump-dom", url]));
      const res = { name: e.name, errors: [], height: m.height };
      if (!m.title.trim()) res.errors.push("email: no title (h1) rendered");
      if (m.scripts > 0) res.errors.push("email: contains " + m.scripts + " script element(s)");
      for (const x of m.external) res.errors.push("email: loads an external resource: " + x);
      if (m.height < 200) res.errors.push("email: rendered only " + m.height + "px high");
      if (e.png && res.errors.length === 0) {
        chromium(bin, work, ["--virtual-time-budget=10000", `--window-size=${EMAIL_WIDTH},${Math.min(m.height, MAX_HEIGHT)}`, `--screenshot=${e.png}`, url]);
        if (!fs.existsSync(e.png)) res.errors.push("screenshot: chromium wrote no file");
      }
      if (res.errors.length) bad = true;
      out.emails.push(res);
    }
    for (const p of job.pages || []) {
      const win = p.width || 1280;
      // The page's Content-Security-Policy forbids scripts, the harness's
      // measuring script included: the copy it loads goes without it (the
      // Go test checks the policy is there).
      const html = fs.readFileSync(p.path, "utf8").replace(/<meta http-equiv="Content-Security-Policy"[^>]*>/i, "");
      const file = path.join(work, `page-${p.name}-${win}.html`);
      fs.writeFileSync(file, html.includes("</body>") ? html.replace("</body>", MEASURE + "</body>") : html + MEASURE);
      let url = pathToFileURL(file).href;
      const framed = (h) => {
        const f = path.join(work, `frame-${p.name}-${win}-${h}.html`);
        fs.writeFileSync(f, framePage(path.basename(file), win, h));
        return pathToFileURL(f).href;
      };
      const winSize = Math.max(win, MIN_WINDOW);
      if (win < MIN_WINDOW) url = framed(2000);
      const m = readResult(chromium(bin, work, ["--virtual-time-budget=10000", `--window-size=${winSize},2000`, "--dump-dom", url]));
      const res = { name: p.name, errors: [], height: m.height, width: m.innerWidth };
      if (!m.title.trim()) res.errors.push("page: no title (h1) rendered");
      if (!m.viewport) res.errors.push("page: no viewport meta (width=device-width): phones would show it zoomed out");
      if (m.scripts > 0) res.errors.push("page: contains " + m.scripts + " script element(s)");
      for (const x of m.external) res.errors.push("page: loads an external resource: " + x);
      if (m.scrollWidth > m.innerWidth) res.errors.push("page: " + m.scrollWidth + " px wide in a " + m.innerWidth + " px window: readers would scroll sideways");
      if (m.height < 200) res.errors.push("page: rendered only " + m.height + "px high");
      if (p.png && res.errors.length === 0) {
        const h = Math.min(m.height, MAX_HEIGHT);
        if (win < MIN_WINDOW) url = framed(h);
        chromium(bin, work, ["--virtual-time-budget=10000", `--window-size=${winSize},${h}`, `--screenshot=${p.png}`, url]);
        if (!fs.existsSync(p.png)) res.errors.push("screenshot: chromium wrote no file");
      }
      if (res.errors.length) bad = true;
      out.pages.push(res);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(out, null, 2) + "\n");
  process.exit(bad ? 1 : 0);
}

try {
  main();
} catch (e) {
  console.error("render harness failed: " + (e && e.stack ? e.stack : e));
  if (e && e.stderr) console.error(String(e.stderr).slice(0, 2000));
  process.exit(2);
}
