// Builds the Custom UI resource forge/static/panel: one bundled, minified module, the panel's CSS and icon, and an
// index.html with the same markup as our Connect page.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";

const out = "static/panel";
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: ["src/index.js"],
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
<title>Checklist</title>
<link rel="stylesheet" href="./panel.css">
<script type="module" src="./panel.js"></script>
</head>
<body>
<main id="app" class="hc"><p class="hc-loading">Loading checklist…</p></main>
</body>
</html>
`,
);
console.log(`built ${out}`);
