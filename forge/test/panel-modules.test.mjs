// The panel's DOM-free modules, as the Forge bundle and the Connect page load them: the status list and the drag
// reorder arithmetic.
import assert from "node:assert/strict";
import { test } from "node:test";
import { allStatuses, completeKeys, defineStatuses, isDone, statusOf } from "../../static/herochecklist/statuses.js";
import { reorderedIds } from "../../static/herochecklist/drag.js";

test("the five built-in statuses, their lozenges and which count as done", () => {
  defineStatuses([]);
  assert.deepEqual(allStatuses().map((s) => [s.key, s.name, s.appearance, s.countsAsDone]), [
    ["todo", "To do", "default", false],
    ["in_progress", "In progress", "inprogress", false],
    ["done", "Done", "success", true],
    ["skipped", "Skipped", "moved", true],
    ["blocked", "Blocked", "removed", false],
  ]);
  assert.deepEqual([...completeKeys(allStatuses())], ["done", "skipped"]);
  assert.equal(statusOf("unheard_of").name, "unheard_of");
  assert.equal(isDone("unheard_of"), false);
});

test("site statuses come after the built-in ones; the built-in five cannot be redefined", () => {
  defineStatuses([
    { key: "review", name: "In review", color: "#6554c0", countsAsDone: false },
    { key: "done", name: "Finished", color: "#ff0000", countsAsDone: false },
    { key: "wontfix", name: "Won't fix", color: "red;background:url(x)", countsAsDone: true },
    { key: "review", name: "Twice", color: "#000000", countsAsDone: true },
  ]);
  assert.deepEqual(allStatuses().slice(5).map((s) => [s.key, s.name, s.color, s.countsAsDone]), [
    ["review", "In review", "#6554c0", false],
    ["wontfix", "Won't fix", null, true],
  ]);
  assert.equal(statusOf("done").name, "Done");
  assert.equal(isDone("wontfix"), true);
  defineStatuses([]);
  assert.equal(allStatuses().length, 5);
});

test("a drop before or after a row, the last place included", () => {
  const ids = ["a", "b", "c"];
  assert.deepEqual(reorderedIds(ids, "a", "c", true), ["b", "c", "a"]);
  assert.deepEqual(reorderedIds(ids, "c", "a", false), ["c", "a", "b"]);
  assert.deepEqual(reorderedIds(ids, "a", "b", true), ["b", "a", "c"]);
  assert.equal(reorderedIds(ids, "a", "b", false), null); // already there
  assert.equal(reorderedIds(ids, "a", "a", true), null);
  assert.equal(reorderedIds(ids, "x", "a", true), null); // not from this list
});
