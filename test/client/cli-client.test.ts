import { spawn } from "node:child_process";
import { mkdtemp, readdir, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Harness } from "../helpers/harness.js";
import { freePort } from "../helpers/ports.js";
import { playUser } from "./browser-step.js";
import type { CallbackPage } from "./browser-step.js";

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  pages: CallbackPage[];
}

let harness: Harness;
let directory: string;

beforeAll(async () => {
  harness = await Harness.start();
  directory = await mkdtemp(join(tmpdir(), "cli-client-"));
});

afterAll(async () => {
  await harness.close();
  await rm(directory, { recursive: true, force: true });
});

/**
 * Runs examples/cli-client in its own process with no display, so it prints
 * the authorization URL, and plays the user for every URL it prints.
 */
function runCli(args: string[]): Promise<Run> {
  const env = { ...process.env };
  delete env.DISPLAY;
  delete env.WAYLAND_DISPLAY;
  const child = spawn(process.execPath, ["--import", "tsx", "examples/cli-client/index.ts", ...args], { env, stdio: ["ignore", "pipe", "pipe"] });
  const run: Run = { code: null, stdout: "", stderr: "", pages: [] };
  const browsing: Array<Promise<void>> = [];

  child.stdout.on("data", (chunk: Buffer) => {
    run.stdout += chunk.toString("utf8");
  });
  child.stderr.on("data", (chunk: Buffer) => {
    const before = run.stderr;
    run.stderr += chunk.toString("utf8");
    const url = /Open this URL in a browser to sign in:\s+(\S+)\s/.exec(run.stderr)?.[1];
    if (url !== undefined && /Open this URL in a browser to sign in:\s+(\S+)\s/.exec(before) === null) {
      browsing.push(playUser(new URL(url)).then((page) => {
        run.pages.push(page);
      }));
    }
  });

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`The CLI did not exit within 15 s; stderr: ${run.stderr}`));
    }, 15_000);
    child.once("exit", (code) => {
      clearTimeout(timer);
      run.code = code;
      void Promise.all(browsing).then(() => resolve(run), reject);
    });
  });
}

describe("examples/cli-client", () => {
  it("signs in, calls whoami and keeps the tokens across runs", async () => {
    const args = ["--server", harness.mcpUrl, "--store", directory];

    const first = await runCli(args);

    expect(first.code).toBe(0);
    expect(first.pages).toHaveLength(1);
    expect(first.pages[0]?.status).toBe(200);
    expect(JSON.parse(first.stdout.trim()).sub).toBe("alice");

    const files = (await readdir(directory)).filter((name) => name.endsWith(".json"));
    expect(files).toHaveLength(1);
    const file = join(directory, files[0] as string);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(directory, "key"))).mode & 0o777).toBe(0o600);
    expect((await stat(directory)).mode & 0o777).toBe(0o700);
    const contents = await readFile(file, "utf8");
    expect(contents).not.toContain("access_token");
    expect(contents).not.toContain("refresh_token");

    // A second process finds the tokens in the store and does not print a URL.
    const second = await runCli(args);

    expect(second.code).toBe(0);
    expect(second.stderr).not.toContain("Open this URL");
    expect(second.pages).toHaveLength(0);
    expect(JSON.parse(second.stdout.trim()).sub).toBe("alice");
  });

  it("signs out and asks the user again on the next run", async () => {
    const args = ["--server", harness.mcpUrl, "--store", directory];
    await runCli(args);

    const signOut = await runCli([...args, "--sign-out"]);
    const again = await runCli(args);

    expect(signOut.code).toBe(0);
    expect(signOut.stdout).toContain(`Signed out of ${harness.mcpUrl}`);
    expect(again.code).toBe(0);
    expect(again.pages).toHaveLength(1);
    expect(JSON.parse(again.stdout.trim()).sub).toBe("alice");
  });

  it("prints a readable error when the server cannot be reached", async () => {
    const url = `http://127.0.0.1:${await freePort()}/mcp`;
    const run = await runCli(["--server", url, "--store", directory]);

    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`OAuthClientError: Could not reach the MCP server ${url}: ECONNREFUSED.`);
  });
});
