// Client-side Apdex: what the panel's user waited for, as the browser saw it, reported as numbers only (the server
// side is checklists/telemetry.py). "render" is page start (the document's time origin) to the panel's first render,
// read from the mark panel.js sets; "api" and "failed" are API calls timed by the transport (onTiming). The batch goes
// out when the page is hidden or left (sendBeacon survives that) and whenever it holds MAX_CALLS calls.

export const RENDER_MARK = "herochecklist-rendered";
const MAX_CALLS = 20; // the endpoint's limit per list

const seconds = (ms) => Math.round(ms) / 1000;

// send(numbers) delivers { render?, api?, failed? }; it must not throw back into the panel (we catch anyway).
export function createTimingReporter({ send }) {
  const batch = { render: null, api: [], failed: [] };
  let renderSeen = false; // the first render is reported once per page

  function flush() {
    if (batch.render == null && !batch.api.length && !batch.failed.length) return;
    const numbers = {};
    if (batch.render != null) numbers.render = batch.render;
    if (batch.api.length) numbers.api = batch.api.splice(0);
    if (batch.failed.length) numbers.failed = batch.failed.splice(0);
    batch.render = null;
    try {
      send(numbers);
    } catch (err) {
      // Monitoring never gets in the user's way.
    }
  }

  function call(elapsedSeconds, failed) {
    (failed ? batch.failed : batch.api).push(Math.min(Math.round(elapsedSeconds * 1000) / 1000, 120));
    if (batch.api.length + batch.failed.length >= MAX_CALLS) flush();
  }

  function rendered(entry) {
    if (!renderSeen) {
      renderSeen = true;
      batch.render = Math.min(seconds(entry.startTime), 120);
    }
  }

  const [mark] = performance.getEntriesByName(RENDER_MARK);
  if (mark) rendered(mark);
  else if (window.PerformanceObserver) {
    const observer = new PerformanceObserver((list) => {
      const [entry] = list.getEntriesByName(RENDER_MARK);
      if (entry) {
        rendered(entry);
        observer.disconnect();
      }
    });
    observer.observe({ type: "mark", buffered: true });
  }
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "hidden") flush();
  });
  window.addEventListener("pagehide", flush);

  return { call, flush };
}

// The Connect page's sender: a beacon to our own origin; the credential rides in the body (a beacon has no headers).
export function beaconSend(url, credential) {
  return (numbers) => navigator.sendBeacon(url, JSON.stringify({ authorization: credential(), ...numbers }));
}
