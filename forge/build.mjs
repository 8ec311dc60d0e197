// Builds the Custom UI resources: forge/static/panel (the issue panel) and forge/static/manager (the template manager
// of jira:projectSettingsPage and jira:adminPage): each one bundled, minified module, the panel's CSS and icon, and an
// index.html with the same markup as our Connect pages.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";

async function resource(name, entry, title, loading) {
  const out = `static/${name}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({
    entryPoints: [entry],
    bundle: true,
    minify: true,
    format: "esm",
    target: "es2020",
    outfile: `${out}/panel.js`,
    legalComments: "none",
  });
  copyFileSync("../static/herochecklist/panel.css", `${out}/panel.css`);
  copyFileSync("../static/herochecklist/icon.svg", `${out}/icon.svg`);
  writeFileSync(
    `${out}/index.html`,
    `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<link rel="stylesheet" href="./panel.css">
<script type="module" src="./panel.js"></script>
</head>
<body>
<main id="app" class="hc"><p class="hc-loading">${loading}</p></main>
</body>
</html>
`,
  );
  console.log(`built ${out}`);
}

await resource("panel", "src/index.js", "Checklist", "Loading checklist…");
await resource("manager", "src/manager.js", "Checklist templates", "Loading templates…");
