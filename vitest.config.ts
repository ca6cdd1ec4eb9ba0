import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: {
    alias: [
      { find: /^mcp-oauth-proxy\/client$/, replacement: fileURLToPath(new URL("./lib/client/index.ts", import.meta.url)) },
      { find: /^mcp-oauth-proxy$/, replacement: fileURLToPath(new URL("./lib/index.ts", import.meta.url)) },
    ],
  },
  test: {
    include: ["test/**/*.test.ts"],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
