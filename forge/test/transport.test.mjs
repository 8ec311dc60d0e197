// The Forge transport against a fake requestRemote: what leaves the panel, and how answers come back.
import assert from "node:assert/strict";
import { test } from "node:test";
import { ApiError, createTransport } from "../../static/herochecklist/transport.js";
import { REMOTE_KEY, TIMING_PATH, forgeSend, forgeTimingSend } from "../../static/herochecklist/forge-transport.js";

function fakeRemote(answer) {
  const calls = [];
  const requestRemote = async (remoteKey, init) => {
    calls.push({ remoteKey, ...init });
    const { status = 200, body = {}, headers = {} } = answer(init, calls.length);
    const text = typeof body === "string" ? body : JSON.stringify(body);
    return new Response(status === 204 ? null : text, { status, headers: { "Content-Type": "application/json", ...headers } });
  };
  return { calls, api: createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote) }) };
}

test("a read goes to our remote with the API path, without our Authorization header", async () => {
  const { calls, api } = fakeRemote(() => ({ body: { items: [] }, headers: { ETag: '"7"' } }));
  const result = await api.request("GET", "/issues/10001/checklist", null, { full: true });
  assert.deepEqual(result, { data: { items: [] }, version: 7 });
  assert.equal(calls.length, 1);
  assert.equal(calls[0].remoteKey, REMOTE_KEY);
  assert.equal(calls[0].path, "/api/v1/issues/10001/checklist");
  assert.equal(calls[0].method, "GET");
  assert.equal(calls[0].body, undefined);
  const names = Object.keys(calls[0].headers).map((n) => n.toLowerCase());
  assert.ok(!names.includes("authorization"), "Forge adds the FIT; we never send a token of our own");
  assert.equal(calls[0].headers.Accept, "application/json");
});

test("writes carry JSON, If-Match and the method", async () => {
  const { calls, api } = fakeRemote(() => ({ status: 201, body: { id: "x" } }));
  await api.request("POST", "/issues/10001/checklist/items", { text: "Ship it" }, { ifMatch: 3 });
  assert.equal(calls[0].method, "POST");
  assert.equal(calls[0].headers["If-Match"], '"3"');
  assert.equal(calls[0].headers["Content-Type"], "application/json");
  assert.deepEqual(JSON.parse(calls[0].body), { text: "Ship it" });
});

test("the text mode sends plain text", async () => {
  const { calls, api } = fakeRemote(() => ({ body: "- [ ] a\n", headers: { "Content-Type": "text/plain" } }));
  await api.request("PUT", "/issues/10001/checklist/text", "- [ ] a\n", { text: true });
  assert.equal(calls[0].body, "- [ ] a\n");
  assert.match(calls[0].headers["Content-Type"], /^text\/plain/);
});

test("errors come back as ApiError with the fields the API named", async () => {
  const { api } = fakeRemote(() => ({ status: 422, body: { error: "validation", fields: { text: "too long" } } }));
  await assert.rejects(api.request("POST", "/x", { text: "a" }), (err) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 422);
    assert.deepEqual(err.fields, { text: "too long" });
    return true;
  });
});

test("a 401 is not retried with a token swap: Forge has no context token to offer", async () => {
  const { calls, api } = fakeRemote(() => ({ status: 401, body: { error: "unauthorized" } }));
  await assert.rejects(api.request("GET", "/x"), (err) => err.status === 401);
  assert.equal(calls.length, 1);
});

test("a 204 gives no body", async () => {
  const { api } = fakeRemote(() => ({ status: 204 }));
  assert.equal(await api.request("DELETE", "/issues/1/checklist/items/a", null, { ifMatch: 1 }), null);
});

test("each call is timed as the caller saw it, and a 5xx or network error counts as failed", async () => {
  const heard = [];
  const answers = [{ status: 200, body: {} }, { status: 503, body: {} }, { status: 404, body: {} }];
  const requestRemote = async () => {
    const { status, body } = answers.shift() || {};
    if (status == null) throw new TypeError("network down");
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  const api = createTransport({
    apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote),
    onTiming: (seconds, failed) => heard.push({ seconds, failed }),
  });
  await api.request("GET", "/templates");
  await assert.rejects(api.request("GET", "/templates"));
  await assert.rejects(api.request("GET", "/templates"));
  await assert.rejects(api.request("GET", "/templates"));
  assert.deepEqual(heard.map((h) => h.failed), [false, true, false, true]);
  assert.ok(heard.every((h) => h.seconds >= 0 && h.seconds < 5));
});

test("timing reports go to our remote's timing endpoint as JSON numbers, without our Authorization", async () => {
  const calls = [];
  const send = forgeTimingSend(async (remoteKey, init) => {
    calls.push({ remoteKey, ...init });
    return new Response(null, { status: 204 });
  });
  send({ render: 0.42, api: [0.1] });
  await new Promise((resolve) => setTimeout(resolve, 0));
  assert.equal(calls.length, 1);
  assert.equal(calls[0].remoteKey, REMOTE_KEY);
  assert.equal(calls[0].path, TIMING_PATH);
  assert.equal(calls[0].method, "POST");
  assert.deepEqual(JSON.parse(calls[0].body), { render: 0.42, api: [0.1] });
  assert.ok(!Object.keys(calls[0].headers).some((n) => n.toLowerCase() === "authorization"));
  forgeTimingSend(async () => { throw new Error("offline"); })({ api: [1] }); // a failed report is dropped quietly
});
