// Plays a Manifold player page in headless Chromium for N seconds and prints one
// JSON line: how far currentTime advanced, the video size, latency, and errors.
// Usage: node play.mjs URL SECONDS
import { chromium } from "../../player/node_modules/playwright-core/index.mjs";

const [url, seconds = "15"] = process.argv.slice(2);
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
const result = { url, pageErrors: [], failedRequests: [] };
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
        paused: v.paused,
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
  await page.waitForTimeout(Number(seconds) * 1000);
  result.end = await state();
} catch (e) {
  result.exception = String(e);
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
