// Lint: typescript-eslint's recommended rules over sources, tests and benchmarks.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "data/", "dist/", "coverage/", "models/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.{js,mjs}"],
    languageOptions: { globals: { process: "readonly", console: "readonly", URL: "readonly" } },
  },
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
    },
  },
  {
    // The browser tracker runs in pages, not in Node.
    files: ["src/ingest/tracker/**/*.js"],
    languageOptions: {
      sourceType: "script",
      globals: {
        window: "readonly", document: "readonly", navigator: "readonly", location: "readonly", history: "readonly",
        localStorage: "readonly", performance: "readonly", console: "readonly", fetch: "readonly", setTimeout: "readonly",
        clearTimeout: "readonly", addEventListener: "readonly", TextEncoder: "readonly", URL: "readonly",
      },
    },
    // ES2017 has no `catch {}` without a binding: an unused one is named `_error`.
    rules: { "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrorsIgnorePattern: "^_" }] },
  },
);
