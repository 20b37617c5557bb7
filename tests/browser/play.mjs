// Plays a Manifold player page in headless Chromium for N seconds and prints one
// JSON line: how far currentTime advanced, the video size, latency, errors, and a
// sample of the player's state every 500 ms (with the wall clock, in ms).
// Usage: node play.mjs URL SECONDS [STARTED_FILE]
// With STARTED_FILE, the wall clock of the moment playback started is written
// there, so that a test can act on the stream (a publisher reconnect) meanwhile.
import { writeFileSync } from "node:fs";
import { chromium } from "../../player/node_modules/playwright-core/index.mjs";

const [url, seconds = "15", startedFile] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: [
    // Chromium looks up Google hosts and multicasts mDNS otherwise: loopback only.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    "--autoplay-policy=no-user-gesture-required",
    "--disable-background-networking",
    "--no-sandbox",
  ],
});
const result = { url, pageErrors: [], failedRequests: [], samples: [] };
try {
  const page = await browser.newPage();
  page.on("pageerror", (e) => result.pageErrors.push(String(e)));
  page.on("response", (r) => {
    if (r.status() >= 400) result.failedRequests.push(`${r.status()} ${r.url()}`);
  });
  await page.goto(url);
  const state = () =>
    page.evaluate(() => {
      const v = document.getElementById("video");
      return {
        time: v.currentTime,
        width: v.videoWidth,
        height: v.videoHeight,
        fatal: window.manifold.fatal,
        errors: window.manifold.errors,
        latency: window.manifold.latency,
        targetLatency: window.manifold.targetLatency,
        paused: v.paused,
        at: Date.now(),
      };
    });
  // Playback must start within 20 s; then it is watched for SECONDS.
  const deadline = Date.now() + 20000;
  let s = await state();
  while (s.time <= 0 && !s.fatal && Date.now() < deadline) {
    await page.waitForTimeout(250);
    s = await state();
  }
  result.start = s;
  if (startedFile) writeFileSync(startedFile, String(s.at));
  const end = Date.now() + Number(seconds) * 1000;
  while (Date.now() < end) {
    await page.waitForTimeout(Math.min(500, Math.max(0, end - Date.now())));
    result.samples.push(await state());
  }
  result.end = await state();
} catch (e) {
  result.exception = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
