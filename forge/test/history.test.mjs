// The History section's sentences and times (static/herochecklist/history.js), DOM-free.
import assert from "node:assert/strict";
import { test } from "node:test";
import { spoken } from "../../static/herochecklist/dates.js";
import { actorName, describeChange, itemNames, relativeTime } from "../../static/herochecklist/history.js";

const statusName = (key) => ({ todo: "To do", done: "Done", blocked: "Blocked" })[key] || key;
const nameOf = (id) => ({ "acc-ada": "Ada Lovelace" })[id] || null;

test("each kind of change reads as a short sentence, item text as typed", () => {
  const names = new Map([["i1", "Deploy"]]);
  const words = { names, statusName, nameOf };
  const say = (change) => describeChange({ itemId: "i1", source: "api", ...change }, words);
  assert.equal(say({ action: "item_added", changes: { after: { text: "<img src=x onerror=alert(1)>" } } }),
    "added “<img src=x onerror=alert(1)>”");
  assert.equal(say({ action: "item_added", changes: { after: { text: "Release", is_header: true } } }),
    "added the header “Release”");
  assert.equal(say({ action: "item_deleted", changes: { before: { text: "Old" } } }), "removed “Old”");
  assert.equal(say({ action: "item_updated", changes: { text: { before: "Deploy", after: "Ship" } } }),
    "renamed “Deploy” to “Ship”");
  assert.equal(say({ action: "item_updated", changes: { status: { before: "todo", after: "done" } } }),
    "changed “Deploy” from To do to Done");
  assert.equal(say({ action: "item_updated", source: "status", changes: { status: { before: "todo", after: "blocked" } } }),
    "changed “Deploy” from To do to Blocked (status change)");
  assert.equal(say({ action: "item_updated", changes: { assignee_account_id: { before: null, after: "acc-ada" } } }),
    "assigned “Deploy” to Ada Lovelace");
  assert.equal(say({ action: "item_updated", changes: { assignee_account_id: { before: "acc-x", after: null } } }),
    "unassigned “Deploy” from someone");
  // A due date reads as its row shows it (dates.js: "Dec 24, 2026" in English), not as the record's YYYY-MM-DD.
  const christmas = spoken("2026-12-24");
  assert.match(christmas, /2026/);
  assert.doesNotMatch(christmas, /2026-12-24/);
  assert.equal(say({ action: "item_updated", changes: { due_date: { before: null, after: "2026-12-24" } } }),
    `set the due date of “Deploy” to ${christmas}`);
  assert.equal(say({ action: "item_updated", changes: { due_date: { before: "2026-12-24", after: null } } }),
    `removed the due date of “Deploy” (was ${christmas})`);
  assert.equal(say({ action: "item_updated", changes: { mandatory: { before: true, after: false } } }),
    "made “Deploy” optional");
  assert.equal(say({ action: "reordered", changes: { position: { after: 2 } } }), "moved “Deploy” to position 3");
  assert.equal(say({ action: "reordered", itemId: null, source: "text", changes: { order: { before: [], after: [] } } }),
    "reordered the checklist (text mode)");
  assert.equal(say({ action: "template_applied", itemId: null, changes: { mode: { after: "replace" } } }),
    "replaced the checklist with a template");
  assert.equal(say({ action: "item_updated", itemId: "gone", changes: { mandatory: { before: false, after: true } } }),
    "made “an item” required");
});

test("an item's name comes from the page, else from the newest record that has it", () => {
  const names = itemNames([{ id: "a", text: "On the page" }], [
    { itemId: "b", changes: { before: { text: "Deleted last" } } },
    { itemId: "b", changes: { after: { text: "Added first" } } },
    { itemId: "a", changes: { after: { text: "Older" } } },
  ]);
  assert.equal(names.get("a"), "On the page");
  assert.equal(names.get("b"), "Deleted last");
});

test("who: a name, our automation, a site token, or someone; never the raw accountId", () => {
  assert.equal(actorName("acc-ada", nameOf), "Ada Lovelace");
  assert.equal(actorName("acc-unknown", nameOf), "Someone");
  assert.equal(actorName(null, nameOf), "Someone");
  assert.equal(actorName("app", nameOf), "HeroChecklist");
  assert.equal(actorName("app:token:abc123", nameOf), "An API token");
});

test("relative times", () => {
  const now = Date.parse("2026-12-01T12:00:00Z");
  assert.equal(relativeTime("2026-12-01T11:59:30Z", now), "just now");
  assert.equal(relativeTime("2026-12-01T11:55:00Z", now), "5 minutes ago");
  assert.equal(relativeTime("2026-12-01T11:00:00Z", now), "1 hour ago");
  assert.equal(relativeTime("2026-11-29T12:00:00Z", now), "2 days ago");
  // Older, the date as the rows write dates (dates.js), not the locale's short numeric one ("9/1/2026").
  assert.equal(relativeTime("2026-09-01T12:00:00Z", now), spoken("2026-09-01"));
  assert.doesNotMatch(relativeTime("2026-09-01T12:00:00Z", now), /\d\/\d/);
  assert.equal(relativeTime("not a date", now), "");
});

test("item text is quoted without its Markdown marks, as the panel's rows show it", () => {
  const say = (text) => describeChange({ action: "item_added", changes: { after: { text } } });
  assert.equal(say("Write **release notes**"), "added “Write release notes”");
  assert.equal(say("Run the [test suite](https://example.com) and `make lint`"), "added “Run the test suite and make lint”");
  assert.equal(say("~~old~~ *new* plan, __really__"), "added “old new plan, really”");
  // What only looks like a mark stays: snake_case, a lone star, arithmetic.
  assert.equal(say("rename user_id to account_id"), "added “rename user_id to account_id”");
  assert.equal(say("2 * 3 * 4 = 24, rated 5*"), "added “2 * 3 * 4 = 24, rated 5*”");
});
