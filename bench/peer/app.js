// The peer for bench/peer.py: atlassian-connect-express verifying the same Connect JWTs (HS256, context qsh),
// looking the tenant up in its own store, and reading a checklist from SQLite. Nothing else.
const path = require("path");
const fs = require("fs");
const express = require("express");
const ace = require("atlassian-connect-express");
const sqlite3 = require("sqlite3");

const port = Number(process.env.PORT);
const dir = process.env.PEER_DIR;
fs.writeFileSync(path.join(dir, "config.json"), JSON.stringify({
  production: {
    port, localBaseUrl: `http://127.0.0.1:${port}`, watch: false, validateDescriptor: false,
    store: { adapter: "sequelize", dialect: "sqlite", logging: false, storage: path.join(dir, "store.sqlite3") },
    errorTemplate: false, setupInstallRoute: false,
  },
}));
fs.writeFileSync(path.join(dir, "atlassian-connect.json"), JSON.stringify({
  key: process.env.APP_KEY, name: "peer", baseUrl: `http://127.0.0.1:${port}`,
  authentication: { type: "jwt" }, apiMigrations: { "signed-install": true, "context-qsh": true, gdpr: true },
  lifecycle: { installed: "/installed" }, modules: {},
}));
process.chdir(dir);

const app = express();
app.use(express.json()); // ACE looks for the token in a parsed body before the Authorization header
app.set("env", "production");
const addon = ace(app, { config: { descriptorTransformer: (d) => d } });
const db = new sqlite3.Database(path.join(dir, "checklists.sqlite3"));

app.get("/api/v1/issues/:issueId/checklist", addon.authenticate(true), (req, res) => {
  db.all(
    "SELECT id, text, status, is_header, mandatory, position FROM items WHERE client_key = ? AND issue_id = ? ORDER BY position",
    [req.context.clientKey, req.params.issueId],
    (err, rows) => {
      if (err) return res.status(500).json({ error: "storage" });
      const items = rows.map((r) => ({ id: r.id, text: r.text, status: r.status, isHeader: !!r.is_header,
                                       mandatory: !!r.mandatory, position: r.position }));
      const done = items.filter((i) => !i.isHeader && (i.status === "done" || i.status === "skipped")).length;
      res.json({ issueId: req.params.issueId, items, progress: { done, total: items.length } });
    },
  );
});

async function seed() {
  const clientKey = process.env.CLIENT_KEY;
  await addon.settings.set("clientInfo", {
    key: process.env.APP_KEY, clientKey, sharedSecret: process.env.SHARED_SECRET,
    baseUrl: "https://peer-site.atlassian.net", productType: "jira",
  }, clientKey);
  await new Promise((ok, fail) => db.serialize(() => {
    db.run("CREATE TABLE IF NOT EXISTS items (id TEXT, client_key TEXT, issue_id TEXT, text TEXT, status TEXT, is_header INT, mandatory INT, position INT)");
    db.run("CREATE INDEX IF NOT EXISTS items_issue ON items (client_key, issue_id, position)");
    db.run("DELETE FROM items");
    const stmt = db.prepare("INSERT INTO items VALUES (?, ?, ?, ?, ?, 0, 1, ?)");
    for (let n = 0; n < 20; n++) stmt.run(`item-${n}`, clientKey, "10001", `Checklist item ${n} with a **bit** of text`, "todo", n);
    stmt.finalize((err) => (err ? fail(err) : ok()));
  }));
}

addon.on("host_settings_saved", () => {});
seed().then(() => app.listen(port, "127.0.0.1", () => console.log(`peer listening on ${port}`)));
