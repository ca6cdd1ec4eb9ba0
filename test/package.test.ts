import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { beforeAll, describe, expect, it } from "vitest";

const exportsToCheck = ["oauthProxy", "OAuthProvider", "OIDCProvider", "MemoryStore", "EncryptedStore", "OAuthError"];

function runNode(args: string[]): string {
  return execFileSync(process.execPath, args, { encoding: "utf8", timeout: 30_000 }).trim();
}

describe("built package", () => {
  beforeAll(() => {
    // CI builds before testing; a local `npm test` on a fresh checkout builds here.
    if (!existsSync("dist/esm/index.js") || !existsSync("dist/cjs/index.js")) {
      execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit", timeout: 120_000 });
    }
  }, 120_000);

  it("imports as ESM", () => {
    const output = runNode([
      "--input-type=module",
      "-e",
      `const m = await import("mcp-oauth-proxy"); console.log(JSON.stringify(${JSON.stringify(exportsToCheck)}.map((name) => typeof m[name])));`,
    ]);
    expect(JSON.parse(output)).toEqual(exportsToCheck.map(() => "function"));
  });

  it("requires as CommonJS", () => {
    const output = runNode([
      "-e",
      `const m = require("mcp-oauth-proxy"); console.log(JSON.stringify(${JSON.stringify(exportsToCheck)}.map((name) => typeof m[name])));`,
    ]);
    expect(JSON.parse(output)).toEqual(exportsToCheck.map(() => "function"));
  });

  it("creates a working router from CommonJS", () => {
    const output = runNode([
      "-e",
      [
        'const { oauthProxy, OAuthProvider } = require("mcp-oauth-proxy");',
        'const provider = new OAuthProvider({ clientId: "c", clientSecret: "s", authorizationEndpoint: "https://idp.example.com/authorize", tokenEndpoint: "https://idp.example.com/token" });',
        'const proxy = oauthProxy({ baseUrl: "https://mcp.example.com", provider, secret: "x".repeat(32) });',
        "console.log(JSON.stringify({ router: typeof proxy, bearer: typeof proxy.bearer(), callback: proxy.callbackUrl, issuer: proxy.metadata.issuer }));",
        "proxy.close();",
      ].join("\n"),
    ]);
    expect(JSON.parse(output)).toEqual({
      router: "function",
      bearer: "function",
      callback: "https://mcp.example.com/oauth/callback",
      issuer: "https://mcp.example.com",
    });
  });

  it("does nothing at import time", () => {
    const output = runNode([
      "--input-type=module",
      "-e",
      'process.stdout.write(""); const before = process.getActiveResourcesInfo(); await import("mcp-oauth-proxy"); await new Promise((resolve) => setTimeout(resolve, 20)); console.log(JSON.stringify(process.getActiveResourcesInfo().filter((name) => !before.includes(name))));',
    ]);
    expect(JSON.parse(output)).toEqual([]);
  });
});
