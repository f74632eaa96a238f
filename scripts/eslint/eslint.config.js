// ESLint for the browser client: plain ES modules served as they are (no build step),
// and their node tests. Run by scripts/lint.sh from the project root:
//   scripts/eslint/node_modules/.bin/eslint --config scripts/eslint/eslint.config.js
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["editor/static/editor/**/*.js"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.browser },
  },
  {
    files: ["tests/js/**/*.mjs"],
    languageOptions: { ecmaVersion: 2022, sourceType: "module", globals: globals.node },
  },
];
