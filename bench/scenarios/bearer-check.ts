import { runChild } from "../child-process.js";
import type { Figure, Row } from "../report.js";

/** Checks per tinybench iteration: timing one await at a time would measure the timer as much as the check. */
export const CHECKS_PER_ITERATION = 100;

/** Microseconds per check of each task, one value per run. */
export type BearerCheckResult = Record<string, number[]>;

/** The tasks, by key: the proxy's configurations and the SDK baseline. */
export const TASKS = {
  "hs256-cached": "bearer(), HS256, MemoryStore, token seen before",
  "hs256-uncached": "bearer(), HS256, MemoryStore, verified-token cache off",
  "es256-cached": "bearer(), ES256, MemoryStore, token seen before",
  "es256-uncached": "bearer(), ES256, MemoryStore, verified-token cache off",
  "grant-read": "the grant read alone, part of every check above: `storage.get` through the EncryptedStore",
  sdk: "SDK requireBearerAuth + jsonwebtoken HS256 verify + EncryptedStore lookup",
} as const;

/** Runs bench/processes/bearer-check.ts and builds figure 2. */
export async function measureBearerCheck(settings: { runs: number; taskMilliseconds: number }): Promise<Figure> {
  const result = await runChild<BearerCheckResult>("bearer-check", [String(settings.runs), String(settings.taskMilliseconds)], { timeoutMs: 180_000 });
  const baselineValues = result.sdk ?? [];
  const rows: Row[] = (["hs256-cached", "grant-read", "hs256-uncached", "es256-cached", "es256-uncached"] as const).map((key) => ({
    id: `bearer-${key}`,
    measurement: TASKS[key],
    unit: "µs",
    decimals: 1,
    values: result[key] ?? [],
    baseline: TASKS.sdk,
    baselineValues,
  }));

  return {
    title: "2. One bearer() check in process",
    method: [
      "The middleware is called directly, without HTTP, on a prepared request: an Express request object with the method, URL and `Authorization` header of a routed `GET /mcp`. " +
        "A check ends when the middleware calls `next()`; any other outcome fails the benchmark. Each token comes from a real sign-in against the fake upstream, and its grant sits in the proxy's storage.",
      `tinybench, ${settings.taskMilliseconds} ms per task and run after a warm-up, with ${CHECKS_PER_ITERATION} checks awaited one after another per iteration, so the timer's own cost is spread over them. ` +
        "The value of a run is the mean time per check, garbage collection included.",
      "\"Token seen before\" is the steady state of an MCP session: the verified-token cache holds the token, so the check is the header parsing, the cache lookup, the grant read that keeps revocation exact, and the scope check. " +
        "\"Verified-token cache off\" (`jwt: { verifiedTokenCacheSize: 0 }`) checks the signature every time, which is also what the first request with a new token costs.",
      "Baseline, in the same process and run: the MCP SDK's `requireBearerAuth` (`@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js`) with a verifier that does the work of a first-seen token: " +
        "`jsonwebtoken.verify` HS256 with a KeyObject (the proxy's own key, derived from the same secret), then a read of the same grant from the same `EncryptedStore(MemoryStore)`. " +
        "Both read through one EncryptedStore, which reuses the plaintext while the stored ciphertext is unchanged, so neither side pays for AES-GCM on a repeated read.",
    ],
    rows,
  };
}
