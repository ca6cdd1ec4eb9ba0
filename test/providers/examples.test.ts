import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

// Each example needs real credentials; without them it must stop before contacting anything.
const EXAMPLES: Array<[string, string[]]> = [
  ["examples/github/index.ts", ["GITHUB_CLIENT_ID", "GITHUB_CLIENT_SECRET"]],
  ["examples/google/index.ts", ["GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET"]],
  ["examples/entra/index.ts", ["ENTRA_TENANT", "ENTRA_CLIENT_ID", "ENTRA_CLIENT_SECRET"]],
];

function run(file: string, env: Record<string, string>): { status: number | null; stderr: string; stdout: string } {
  const base = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^(GITHUB|GOOGLE|ENTRA)_/.test(name))) as Record<string, string>;
  const result = spawnSync(process.execPath, ["--import", "tsx", file], { cwd: ROOT, env: { ...base, ...env }, encoding: "utf8", timeout: 30_000 });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe("examples without credentials", () => {
  for (const [file, variables] of EXAMPLES) {
    it(`${file} names what is missing and exits 1`, () => {
      const result = run(file, {});

      expect(result.status).toBe(1);
      expect(result.stdout).toBe("");
      expect(result.stderr).toContain(`Missing environment variables: ${variables.join(", ")}.`);
      expect(result.stderr).toMatch(/docs\/providers\/\w+\.md shows how to create one/);
    });
  }

  it("lists only the variables still missing", () => {
    const result = run("examples/entra/index.ts", { ENTRA_TENANT: "organizations" });

    expect(result.status).toBe(1);
    expect(result.stderr).toContain("Missing environment variables: ENTRA_CLIENT_ID, ENTRA_CLIENT_SECRET.");
  });
});
