// ESLint over every browser module we ship (our Connect pages and the Forge bundles share static/herochecklist). A name
// used but never declared or imported (a merge that drops an import) breaks the panel only at run time, in a browser,
// so the recommended rules run in `make lint` and before the Forge build in `make test`. ESLint and its rule sets are
// forge/'s locked npm packages; this file sits at the root so that one run sees static/ and forge/ alike.
import { createRequire } from "node:module";

const require = createRequire(new URL("./forge/package.json", import.meta.url));
const js = require("@eslint/js");
const globals = require("globals");

export default [
  { ignores: ["**/node_modules/**", "forge/static/**", ".venv/**", "var/**", "staticfiles/**"] },
  js.configs.recommended,
  {
    files: ["static/**/*.js", "forge/src/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.browser } },
    rules: { "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }] },
  },
  {
    files: ["forge/test/**/*.js", "forge/test/**/*.mjs", "forge/*.mjs", "forge/*.js", "eslint.config.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: { ...globals.node } },
  },
];
