// The live-update and per-item pieces of the panel (static/herochecklist/live.js) through the Forge transport.
import assert from "node:assert/strict";
import { test } from "node:test";
import { createTransport } from "../../static/herochecklist/transport.js";
import { forgeSend } from "../../static/herochecklist/forge-transport.js";
import { adoptVersion, itemTag, noteItemConflict, settleConflict, uniqueItems } from "../../static/herochecklist/live.js";
import { mergeText } from "../../static/herochecklist/merge.js";

test("a poll sends If-None-Match and a 304 comes back as no data, without a timing report", async () => {
  const calls = [];
  const timings = [];
  const requestRemote = async (remoteKey, init) => {
    calls.push(init);
    return new Response(null, { status: 304, headers: { ETag: '"7"' } });
  };
  const api = createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote),
                                onTiming: (s) => timings.push(s) });
  const result = await api.request("GET", "/issues/1/checklist", null, { ifNoneMatch: 7, full: true, untimed: true });
  assert.deepEqual(result, { data: null, version: 7 });
  assert.equal(calls[0].headers["If-None-Match"], '"7"');
  assert.equal(calls[0].headers["If-Match"], undefined);
  assert.deepEqual(timings, []);
});

test("an item write's If-Match is the item's own tag", async () => {
  const calls = [];
  const requestRemote = async (remoteKey, init) => {
    calls.push(init);
    return new Response("{}", { status: 200, headers: { ETag: '"9"' } });
  };
  const api = createTransport({ apiBase: "/api/v1", token: "forge", send: forgeSend(requestRemote) });
  const item = { id: "0b6c2f9e-8a4d-4c4e-9f7a-2d1e5b3c4a10", version: 3 };
  await api.request("PATCH", "/issues/1/checklist/items/x", { status: "done" }, { ifMatch: itemTag(item) });
  assert.equal(calls[0].headers["If-Match"], '"item-0b6c2f9e-8a4d-4c4e-9f7a-2d1e5b3c4a10-3"');
});

test("a version that skips someone else's change is not taken: the panel fetches instead", () => {
  const state = { version: 4 };
  let fetched = 0;
  adoptVersion(state, 5, () => (fetched += 1));
  assert.equal(state.version, 5);
  adoptVersion(state, 7, () => (fetched += 1));
  assert.equal(state.version, 5);
  assert.equal(fetched, 1);
});

test("a 412 on an item keeps the user's change and shows the stored item", () => {
  const mine = { id: "a", text: "Build", version: 1 };
  const theirs = { id: "a", text: "Build", status: "done", version: 2 };
  const state = { items: [mine, { id: "b" }] };
  noteItemConflict(state, mine, { text: "Build twice" }, theirs);
  assert.deepEqual(state.itemConflict, { item: mine, fields: { text: "Build twice" }, theirs, next: [] });
  assert.equal(state.items[0], theirs);
  // A delete of an item someone else already deleted is no conflict: it is simply gone.
  noteItemConflict(state, theirs, null, null);
  assert.equal(state.itemConflict, null);
  assert.deepEqual(state.items.map((i) => i.id), ["b"]);
});

test("a second conflict neither replaces nor hides the first: same item joins it, another waits", () => {
  const build = { id: "a", text: "Build", version: 1 };
  const deploy = { id: "b", text: "Deploy", version: 1 };
  const state = { items: [build, deploy] };
  // Two queued changes of Build, both made on version 1, both refused: someone else changed it meanwhile.
  noteItemConflict(state, build, { dueDate: "2026-12-24" }, { ...build, status: "done", version: 2 });
  const theirs = { ...build, status: "done", text: "Build it", version: 3 };
  noteItemConflict(state, build, { visibleToCustomer: true }, theirs);
  assert.deepEqual(state.itemConflict,
    { item: build, fields: { dueDate: "2026-12-24", visibleToCustomer: true }, theirs, next: [] });
  // A change of Deploy refused too: it waits behind Build's, which stays shown.
  const deployNow = { ...deploy, text: "Ship", version: 2 };
  noteItemConflict(state, deploy, { status: "done" }, deployNow);
  assert.equal(state.itemConflict.item, build);
  assert.deepEqual(state.itemConflict.next, [{ item: deploy, fields: { status: "done" }, theirs: deployNow }]);
  // Her delete of Build, refused too, is a choice of its own: it waits, not joined to her edits.
  noteItemConflict(state, build, null, theirs);
  assert.deepEqual(state.itemConflict.next.map((c) => [c.item.id, c.fields]), [["b", { status: "done" }], ["a", null]]);
  // The conflict shown settled (saved, or theirs kept): the next one is shown, then the one after, then none.
  settleConflict(state);
  assert.deepEqual(state.itemConflict,
    { item: deploy, fields: { status: "done" }, theirs: deployNow, next: [{ item: build, fields: null, theirs }] });
  settleConflict(state);
  assert.deepEqual(state.itemConflict, { item: build, fields: null, theirs, next: [] });
  settleConflict(state);
  assert.equal(state.itemConflict, null);
});

test("deleting what someone else deleted drops that item's conflicts and keeps the others", () => {
  const [a, b] = [{ id: "a", text: "Build", version: 1 }, { id: "b", text: "Deploy", version: 1 }];
  const state = { items: [a, b] };
  noteItemConflict(state, a, { status: "done" }, { ...a, version: 2 });
  noteItemConflict(state, b, { status: "done" }, { ...b, version: 2 });
  noteItemConflict(state, a, null, null);
  assert.deepEqual(state.itemConflict, { item: b, fields: { status: "done" }, theirs: { ...b, version: 2 }, next: [] });
  assert.deepEqual(state.items.map((i) => i.id), ["b"]);
});

test("an item a poll already brought is not shown twice when the write's answer arrives", () => {
  const a1 = { id: "a", text: "old" };
  const b = { id: "b" };
  const a2 = { id: "a", text: "new" };
  assert.deepEqual(uniqueItems([a1, b, a2]), [a2, b]);
});

test("text mode's merge keeps both sides' changes and both versions of a line both changed", () => {
  const base = "- [ ] a\n- [ ] b\n- [ ] c\n";
  // Nothing typed: the latest text as it is. Nothing changed by others: the draft as typed.
  assert.deepEqual(mergeText(base, base, "- [ ] a\n"), { text: "- [ ] a\n", clashes: [] });
  assert.deepEqual(mergeText(base, "- [x] a\n", base), { text: "- [x] a\n", clashes: [] });
  // Different lines changed: both changes; a line one side removed stays removed; additions from both stay.
  assert.deepEqual(mergeText(base, "- [x] a\n- [ ] b\n- [ ] c\n- [ ] mine\n", "- [ ] a\n- [ ] c, theirs\n- [ ] theirs\n"),
    { text: "- [x] a\n- [ ] c, theirs\n- [ ] theirs\n- [ ] mine\n", clashes: [] });
  // The same line changed by both, differently: both versions, theirs first, and the old line named.
  assert.deepEqual(mergeText(base, "- [ ] a\n- [ ] b, mine\n- [ ] c\n", "- [ ] a\n- [ ] b, theirs\n- [ ] c\n"),
    { text: "- [ ] a\n- [ ] b, theirs\n- [ ] b, mine\n- [ ] c\n", clashes: [{ was: "- [ ] b", line: 2 }] });
  // The same change on both sides is one line, no clash.
  assert.deepEqual(mergeText(base, "- [ ] a\n- [x] b\n- [ ] c\n- [ ] d\n", "- [ ] a\n- [x] b\n- [ ] c\n"),
    { text: "- [ ] a\n- [x] b\n- [ ] c\n- [ ] d\n", clashes: [] });
});

test("text mode's merge keeps each line the user typed when the other side added one like it", () => {
  // Two sections typed, each with its "sign off"; someone else added one "sign off" at the same place meanwhile.
  // Their line stands for one of the user's, not for both: the user's second one was dropped from the draft.
  const base = "- [ ] a\n";
  const mine = "- [ ] a\n## QA\n- [ ] sign off\n## Prod\n- [ ] sign off\n";
  const theirs = "- [ ] a\n- [ ] sign off\n";
  const { text, clashes } = mergeText(base, mine, theirs);
  assert.deepEqual(clashes, []);
  assert.equal(text.split("\n").filter((line) => line === "- [ ] sign off").length, 2);
  assert.deepEqual(text.split("\n").filter((line) => line.startsWith("##")), ["## QA", "## Prod"]);
});
