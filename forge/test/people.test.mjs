// People in the panel on Forge: requestJira (as the current user) for user search and lookup, and the page's cache
// of names and avatars (people.js) that both hosts share.
import assert from "node:assert/strict";
import { test } from "node:test";
import { forgeJira } from "../../static/herochecklist/forge-transport.js";
import { apJira, createDirectory } from "../../static/herochecklist/people.js";

const ALICE = "557058:devhost-alice";
const BOB = "557058:devhost-bob";

function user(accountId, displayName, extra = {}) {
  return {
    accountId, displayName, accountType: "atlassian", active: true, emailAddress: `${displayName}@example.com`,
    avatarUrls: { "16x16": `https://avatars.example/${accountId}/16`, "24x24": `https://avatars.example/${accountId}/24` },
    ...extra,
  };
}

// A fake requestJira answering like Jira's REST API v3 (and the stand-in, devhost/jira_users.py).
function fakeJira(people, { status = 200 } = {}) {
  const calls = [];
  const requestJira = async (path, init) => {
    calls.push({ path, init });
    const url = new URL(path, "https://site.example");
    let body = [];
    if (url.pathname === "/rest/api/3/user/search") {
      const query = url.searchParams.get("query").toLowerCase();
      body = people.filter((p) => p.displayName.toLowerCase().split(" ").some((w) => w.startsWith(query)));
    } else if (url.pathname === "/rest/api/3/user/bulk") {
      const ids = url.searchParams.getAll("accountId");
      const values = people.filter((p) => ids.includes(p.accountId));
      body = { startAt: 0, maxResults: 50, total: values.length, isLast: true, values };
    }
    return new Response(JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
  };
  return { calls, requestJira };
}

test("user search goes to Jira through requestJira, as JSON, and keeps only active people with name and avatar", async () => {
  const { calls, requestJira } = fakeJira([
    user(ALICE, "Alice Andersen"),
    user("557058:app", "Alice Automation", { accountType: "app" }),
    user("557058:gone", "Alicia Gone", { active: false }),
  ]);
  const people = createDirectory(forgeJira(requestJira));
  const found = await people.search("ali ce");
  assert.equal(calls.length, 1);
  assert.equal(calls[0].path, "/rest/api/3/user/search?query=ali%20ce&maxResults=10");
  assert.equal(calls[0].init.headers.Accept, "application/json");
  assert.deepEqual(await people.search("ali"), [
    { accountId: ALICE, name: "Alice Andersen", avatar: `https://avatars.example/${ALICE}/24` },
  ]);
  assert.deepEqual(found, []);
  // What the panel keeps of a person: no email address, whatever Jira sent.
  assert.ok(!JSON.stringify(people.get(ALICE)).includes("@example.com"));
});

test("chips resolve every assignee in one bulk call, once per page; an account Jira does not show is unknown", async () => {
  const { calls, requestJira } = fakeJira([user(ALICE, "Alice Andersen"), user(BOB, "Bob Brennan")]);
  const people = createDirectory(forgeJira(requestJira));
  await Promise.all([people.resolve([ALICE, BOB, ALICE, "557058:nobody", ""]), people.resolve([BOB])]);
  assert.equal(calls.length, 1);
  const asked = new URL(calls[0].path, "https://site.example").searchParams;
  assert.deepEqual(asked.getAll("accountId"), [ALICE, BOB, "557058:nobody"]);
  assert.equal(people.get(BOB).name, "Bob Brennan");
  assert.equal(people.get("557058:nobody"), null);
  await people.resolve([ALICE, BOB]);
  assert.equal(calls.length, 1, "cached for the page");
});

test("a failed lookup leaves the chips unresolved and is tried again; a failed search is an error", async () => {
  let failing = true;
  const good = fakeJira([user(ALICE, "Alice Andersen")]);
  const requestJira = async (path, init) =>
    failing ? new Response("{}", { status: 503 }) : good.requestJira(path, init);
  const people = createDirectory(forgeJira(requestJira));
  await people.resolve([ALICE]);
  assert.equal(people.get(ALICE), undefined);
  await assert.rejects(people.search("ali"), /Jira answered 503/);
  failing = false;
  await people.resolve([ALICE]);
  assert.equal(people.get(ALICE).name, "Alice Andersen");
});

test("more assignees than one call takes are looked up in pages of 50", async () => {
  const many = Array.from({ length: 120 }, (_, i) => user(`557058:u${i}`, `User ${i}`));
  const { calls, requestJira } = fakeJira(many);
  const people = createDirectory(forgeJira(requestJira));
  await people.resolve(many.map((p) => p.accountId));
  assert.deepEqual(calls.map((c) => new URL(c.path, "https://x.example").searchParams.getAll("accountId").length),
    [50, 50, 20]);
  assert.equal(people.get("557058:u119").name, "User 119");
});

test("on Connect, AP.request carries the same reads and its body is parsed", async () => {
  const asked = [];
  const AP = { request: async (options) => { asked.push(options); return { body: '[{"accountId":"a"}]' }; } };
  assert.deepEqual(await apJira(AP)("/rest/api/3/user/search?query=a"), [{ accountId: "a" }]);
  assert.deepEqual(asked, [{ url: "/rest/api/3/user/search?query=a", type: "GET" }]);
  assert.equal(apJira({}), null, "no AP.request, no people search");
  assert.equal(createDirectory(null).canSearch(), false);
});
