// forge/manifest.yml through @forge/manifest's full validation (what `forge lint` runs), offline. Needs the built
// Custom UI resource (`npm run build`).
import assert from "node:assert/strict";
import { test } from "node:test";
import { validate } from "@forge/manifest";

test("the manifest passes the Forge manifest validator", async () => {
  const result = await validate(false, "manifest.yml");
  assert.deepEqual(result.errors ?? [], []);
  assert.equal(result.success, true);
});

test("the built panel is a bundle of the shared panel code", async () => {
  const { readFileSync } = await import("node:fs");
  const bundle = readFileSync("static/panel/panel.js", "utf8");
  assert.ok(bundle.includes("/issues/"), "the panel's API paths are in the bundle");
  assert.ok(bundle.includes("/rest/api/3/user/bulk"), "and its Jira user lookups (people.js), through requestJira");
  assert.ok(!bundle.includes("herochecklist-token"), "the Connect bootstrap is not");
});
