import { runChild } from "../child-process.js";
import { formatNumber, median } from "../report.js";
import type { Figure, Row } from "../report.js";

/** Heap per grant and what one grant stores, one value per run. */
export interface HeapResult {
  /** Heap bytes per live grant, by grant count. */
  bytesPerGrant: Record<string, number[]>;
  /** JSON bytes of one grant record plus its refresh token record. */
  plaintextBytes: number[];
  /** Characters of the two stored ciphertexts plus their two storage keys, for one grant. */
  storedCharacters: number[];
  /** Characters of the upstream ID token in each grant; 0 without one. */
  idTokenCharacters: number;
}

/** Runs bench/processes/heap.ts with and without an ID token in the session and builds figure 5. */
export async function measureHeap(settings: { runs: number; counts: number[] }): Promise<{ figure: Figure; result: HeapResult }> {
  const [smaller = 0, larger = 0] = settings.counts;
  const oidc = await runChild<HeapResult>("heap", ["oidc", String(settings.runs), ...settings.counts.map(String)], { nodeFlags: ["--expose-gc"], timeoutMs: 180_000 });
  const oauth = await runChild<HeapResult>("heap", ["oauth", String(settings.runs), String(smaller)], { nodeFlags: ["--expose-gc"], timeoutMs: 120_000 });

  const row = (id: string, measurement: string, result: HeapResult, count: number): Row => ({
    id,
    measurement,
    unit: "bytes",
    decimals: 0,
    values: result.bytesPerGrant[count] ?? [],
    baseline: "plaintext JSON of the grant and refresh token records",
    baselineValues: result.plaintextBytes,
  });

  return {
    result: oidc,
    figure: {
      title: "5. Heap per live grant in MemoryStore",
      method: [
        "Grants are created by the code path of the token endpoint: `createGrant` (lib/grants.ts) and `issueTokens` (lib/tokens.ts), which stores a rotating refresh token, " +
          "on a ProxyContext built as `oauthProxy()` builds it, with the proxy's AES-256-GCM `EncryptedStore` around a `MemoryStore` whose `maxEntries` is raised to hold them all (its default of 100000 entries holds 50000 grants). " +
          "Each grant belongs to one client registered through the registration code, and carries a copy of one upstream session obtained from the fake upstream through `OAuthProvider` " +
          `(opaque access and refresh tokens, an RS256 ID token of ${oidc.idTokenCharacters} characters, and the user-info claims).`,
        `Heap per grant: \`process.memoryUsage().heapUsed\` after \`global.gc()\` (node --expose-gc), after creating ${formatNumber(smaller, 0)} and then ${formatNumber(larger, 0)} grants, minus the same reading before the first, divided by the number of grants. ` +
          "Each run starts from an empty store; the runs with an ID token share one child process, and those without it another. The \"without ID token\" row drops the ID token from the session, as a plain OAuth 2.0 provider such as GitHub sends none.",
        "Baseline: the plaintext JSON bytes of the two records each grant stores (the grant, with the upstream session, and the refresh token record), so the ratio is the cost of encryption, base64url and the store's own structures.",
      ],
      rows: [
        row("heap-small", `${formatNumber(smaller, 0)} grants, session with ID token`, oidc, smaller),
        row("heap-large", `${formatNumber(larger, 0)} grants, session with ID token`, oidc, larger),
        row("heap-oauth", `${formatNumber(smaller, 0)} grants, session without ID token`, oauth, smaller),
      ],
      notes: [
        `What one grant keeps, measured in the last run with ID token: ${formatNumber(median(oidc.plaintextBytes), 0)} bytes of plaintext JSON become ${formatNumber(median(oidc.storedCharacters), 0)} characters of storage keys and base64url ciphertext ` +
          "(one byte each on the V8 heap), in two entries of the store's Map.",
      ],
    },
  };
}
