// Builds the Custom UI resources besides the panel (build.mjs): static/admin (jira:adminPage "Checklist API
// tokens") and static/portal (jiraServiceManagement:portalRequestDetail), each one bundled module and the panel CSS.
import { build } from "esbuild";
import { copyFileSync, mkdirSync, rmSync, writeFileSync } from "node:fs";

const pages = {
  admin: { title: "Checklist API tokens", body: '<main class="hc hc-admin"><h1>API tokens</h1><div id="hc-tokens"></div></main>' },
  portal: { title: "Checklist", body: '<main id="app" class="hc hc-portal" aria-live="polite">Loading checklist…</main>' },
};
for (const [name, page] of Object.entries(pages)) {
  const out = `static/${name}`;
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  await build({ entryPoints: [`src/${name}.js`], bundle: true, minify: true, format: "esm", target: "es2020",
    outfile: `${out}/${name}.js`, legalComments: "none" });
  copyFileSync("../static/herochecklist/panel.css", `${out}/panel.css`);
  writeFileSync(`${out}/index.html`, `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${page.title}</title>
<link rel="stylesheet" href="./panel.css">
<script type="module" src="./${name}.js"></script>
</head>
<body>
${page.body}
</body>
</html>
`);
  console.log(`built ${out}`);
}
