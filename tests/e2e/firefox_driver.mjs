// Firefox ESR for tests/e2e/firefox.py: one headless browser with one page, driven by
// puppeteer-core over WebDriver BiDi. Commands arrive on stdin and replies leave on stdout,
// one JSON object a line: {"id", "op", ...} → {"id", "ok": true, "value"} or {"id", "ok":
// false, "error"}. The browser closes when stdin does.
//
// usage: node firefox_driver.mjs PROFILE_DIR
import { createRequire } from "node:module";
import { createInterface } from "node:readline";

// puppeteer-core lives in the web client's devDependencies; it never downloads a browser.
const require = createRequire(new URL("../../web/package.json", import.meta.url));
const puppeteer = require("puppeteer-core");

const FIREFOX = process.env.GETHORY_FIREFOX ?? "/usr/bin/firefox-esr";
// Firefox's fake microphone plays a sine of this frequency (the pref's default, made explicit
// because the test listens for it).
const FAKE_TONE_HZ = 1000;
const STEP_TIMEOUT_MS = 20_000;

const profile = process.argv[2];
if (!profile) throw new Error("usage: node firefox_driver.mjs PROFILE_DIR");

const browser = await puppeteer.launch({
  browser: "firefox",
  protocol: "webDriverBiDi",
  executablePath: FIREFOX,
  headless: true,
  userDataDir: profile,
  extraPrefsFirefox: {
    // A fake microphone and no permission prompt, as Chromium's --use-fake-* flags.
    "media.navigator.streams.fake": true,
    "media.navigator.permission.disabled": true,
    "media.navigator.audio.fake_frequency": FAKE_TONE_HZ,
    // Host candidates as IP addresses, as Firefox gives them once a user has granted the
    // microphone; with prompts disabled it would hide them behind mDNS names, which nothing
    // resolves inside the test's network namespace.
    "media.peerconnection.ice.obfuscate_host_addresses": false,
    // Pairs with a peer's 127.0.0.1 candidate (Chromium gathers only that address here), as
    // Chromium's --allow-loopback-in-peer-connection. Firefox still gathers no 127.0.0.1 of
    // its own, hence scripts/isolated's 192.0.2.1.
    "media.peerconnection.ice.loopback": true,
    // Remote audio plays in <audio autoplay> without a click, as a returning user's would.
    "media.autoplay.default": 0,
    "media.autoplay.blocking_policy": 0,
  },
});
const page = await browser.newPage();
page.setDefaultTimeout(STEP_TIMEOUT_MS);

// A function's source, called in the page; its (awaited) result comes back as JSON.
const call = (source, arg) => page.evaluate(`(${source})(${JSON.stringify(arg ?? null)})`);

const ops = {
  // Runs in every document before the page's own scripts (e.g. to keep peer connections).
  initScript: ({ source }) => page.evaluateOnNewDocument(source).then(() => null),
  goto: ({ url }) => page.goto(url).then(() => null),
  type: async ({ selector, text }) => {
    const field = await page.waitForSelector(selector, { visible: true });
    await field.type(text);
    return null;
  },
  click: async ({ selector }) => {
    const target = await page.waitForSelector(selector, { visible: true });
    await target.click();
    return null;
  },
  waitFor: ({ selector }) => page.waitForSelector(selector, { visible: true }).then(() => null),
  evaluate: ({ source, arg }) => call(source, arg),
  url: () => page.url(),
  screenshot: ({ path }) => page.screenshot({ path, fullPage: true }).then(() => null),
};

const lines = createInterface({ input: process.stdin });
// One command at a time, in order: a step's effects are visible to the next.
for await (const line of lines) {
  const { id, op, ...args } = JSON.parse(line);
  let reply;
  try {
    const run = ops[op];
    if (!run) throw new Error(`unknown op ${op}`);
    reply = { id, ok: true, value: (await run(args)) ?? null };
  } catch (error) {
    reply = { id, ok: false, error: String(error?.stack ?? error) };
  }
  process.stdout.write(`${JSON.stringify(reply)}\n`);
}
await browser.close();
