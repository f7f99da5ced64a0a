// Screenshot of the web console after it has polled for a while in real time (the README's
// picture). Headless Chromium's own --screenshot fires at load, before any rate exists, so this
// drives it through the DevTools protocol instead. Usage:
//   node --experimental-websocket tools/console/screenshot.mjs http://127.0.0.1:9644/ out.png [seconds]
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [url, out, seconds = "14"] = process.argv.slice(2);
const port = 9300 + Math.floor(Math.random() * 500);
const profile = mkdtempSync(join(tmpdir(), "sluice-shot-"));
const chrome = spawn("chromium", ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
  "--hide-scrollbars", "--window-size=1280,1300", `--remote-debugging-port=${port}`, `--user-data-dir=${profile}`, url],
  { stdio: "ignore" });
const sleep = ms => new Promise(r => setTimeout(r, ms));
try {
  let target = null;
  for (let i = 0; i < 100 && !target; i++) {
    await sleep(100);
    try { target = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()).find(t => t.type === "page"); } catch {}
  }
  if (!target) throw new Error("chromium did not start");
  await sleep(Number(seconds) * 1000);
  const ws = new WebSocket(target.webSocketDebuggerUrl);
  await new Promise((res, rej) => { ws.onopen = res; ws.onerror = rej; });
  const shot = await new Promise(res => {
    ws.onmessage = m => { const d = JSON.parse(m.data); if (d.id === 1) res(d.result.data); };
    ws.send(JSON.stringify({ id: 1, method: "Page.captureScreenshot", params: { format: "png" } }));
  });
  writeFileSync(out, Buffer.from(shot, "base64"));
  ws.close();
} finally {
  chrome.kill();
  rmSync(profile, { recursive: true, force: true });
}
