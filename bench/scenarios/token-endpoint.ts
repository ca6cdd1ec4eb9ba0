import { CONNECTIONS, runLoad } from "../load.js";
import type { LoadResult } from "../load.js";
import type { Figure } from "../report.js";
import { codeRequestBody, createPkce, obtainCode, obtainCodes, redeemCode, refreshRequestBody, registerClient } from "../sign-in.js";

/** How long and how often the token endpoint is loaded. */
export interface TokenEndpointSettings {
  runs: number;
  durationSeconds: number;
  /** Authorization codes redeemed per run. */
  codesPerRun: number;
}

/** The fake upstream and the proxy's client there. */
export interface UpstreamTarget {
  url: string;
  clientId: string;
  clientSecret: string;
}

/** Sign-ins that run at once while codes are prepared. */
const PREPARE_CONCURRENCY = 8;

/**
 * Measures `POST /oauth/token` of the HS256 MemoryStore app: the refresh_token grant for a
 * fixed time, then the authorization_code grant for a fixed number of codes, each run next to
 * the fake upstream's own token endpoint as the baseline.
 */
export async function measureTokenEndpoint(proxyUrl: string, upstream: UpstreamTarget, settings: TokenEndpointSettings): Promise<Figure> {
  const clientId = await registerClient(proxyUrl);
  const pkce = createPkce();
  const tokenUrl = `${proxyUrl}/oauth/token`;
  const formHeaders = { "content-type": "application/x-www-form-urlencoded" };
  const baselineLoad = await upstreamRefreshLoad(upstream);

  await runLoad({ ...baselineLoad, durationSeconds: 1 });
  await runRefreshLoad(tokenUrl, clientId, pkce, proxyUrl, 1, formHeaders);

  const baseline: LoadResult[] = [];
  const refresh: LoadResult[] = [];
  const codes: LoadResult[] = [];
  let prepareSeconds = 0;
  for (let run = 0; run < settings.runs; run++) {
    baseline.push(await runLoad({ ...baselineLoad, durationSeconds: settings.durationSeconds }));
    refresh.push(await runRefreshLoad(tokenUrl, clientId, pkce, proxyUrl, settings.durationSeconds, formHeaders));

    // autocannon builds each connection's first request before it sends anything, so a few spare codes keep every request valid.
    const started = performance.now();
    const prepared = await obtainCodes(proxyUrl, clientId, pkce, settings.codesPerRun + 2 * CONNECTIONS, PREPARE_CONCURRENCY);
    prepareSeconds += (performance.now() - started) / 1000;
    codes.push(await runLoad({
      url: tokenUrl,
      method: "POST",
      headers: formHeaders,
      amount: settings.codesPerRun,
      nextBody: () => codeRequestBody(clientId, prepared.pop() ?? "no-code-left", pkce),
    }));
  }

  const baselineName = "fake upstream `POST /token`, refresh_token grant";
  return {
    title: "3. Token endpoint",
    method: [
      "The HS256 MemoryStore app of figure 1, with rate limits off (`rateLimits: false`), because the load comes from one address at thousands of requests a second. " +
        "Its upstream is a fake OAuth provider in a third process (`bench/fake-upstream.ts`): it redirects `/authorize` straight back with a code for a new user, " +
        "and its token endpoint answers at once with opaque tokens and, for codes, an RS256-signed ID token.",
      `**refresh_token grant**: ${2 * CONNECTIONS} grants of one registered public client, each from a real sign-in, are shared by the ${CONNECTIONS} connections; ` +
        "each request sends a refresh token that has not been used, and the rotated token from its response goes back into the pool. " +
        "Each proxy refresh also refreshes the upstream tokens at the fake upstream, because the proxy renews an upstream grant that has a refresh token on every refresh, so a grant revoked upstream ends at the proxy too. " +
        `${settings.durationSeconds} s per run.`,
      `**authorization_code grant**: before each run, ${settings.codesPerRun + 2 * CONNECTIONS} codes are obtained by driving the whole browser flow through the proxy over HTTP ` +
        `(authorization request, consent page, approval, fake upstream, callback; ${PREPARE_CONCURRENCY} flows at a time), with one PKCE pair for all of them. ` +
        `The run redeems ${settings.codesPerRun} of them, each once, and its throughput is responses ÷ wall-clock time. ` +
        "No code is written into storage by hand. " +
        `Preparing the codes took ${(prepareSeconds / settings.runs).toFixed(1)} s per run on average, which is not part of the figure.`,
      `Baseline: autocannon against the fake upstream's own token endpoint with one refresh token, the same ${CONNECTIONS} connections, ${settings.durationSeconds} s, in the same run: ` +
        "an OAuth token endpoint that parses the form and answers without any storage or signing.",
    ],
    rows: [
      {
        id: "token-refresh",
        measurement: "`POST /oauth/token`, refresh_token grant (includes one upstream refresh)",
        unit: "req/s",
        decimals: 0,
        values: refresh.map((result) => result.requestsPerSecond),
        baseline: baselineName,
        baselineValues: baseline.map((result) => result.requestsPerSecond),
      },
      {
        id: "token-code",
        measurement: "`POST /oauth/token`, authorization_code grant",
        unit: "req/s",
        decimals: 0,
        values: codes.map((result) => result.requestsPerSecond),
        baseline: baselineName,
        baselineValues: baseline.map((result) => result.requestsPerSecond),
      },
    ],
  };
}

/** Loads the refresh_token grant with a pool of fresh grants for one run. */
async function runRefreshLoad(
  tokenUrl: string,
  clientId: string,
  pkce: ReturnType<typeof createPkce>,
  proxyUrl: string,
  durationSeconds: number,
  headers: Record<string, string>,
): Promise<LoadResult> {
  const pool: string[] = [];
  for (let index = 0; index < 2 * CONNECTIONS; index++) {
    const code = await obtainCode(proxyUrl, clientId, pkce);
    pool.push((await redeemCode(proxyUrl, clientId, code, pkce)).refreshToken);
  }

  return runLoad({
    url: tokenUrl,
    method: "POST",
    headers,
    durationSeconds,
    nextBody: () => refreshRequestBody(clientId, pool.shift() ?? "pool-empty"),
    onResponse: (status, body) => {
      if (status === 200) {
        pool.push((JSON.parse(body) as { refresh_token: string }).refresh_token);
      }
    },
  });
}

/** Signs in at the fake upstream directly and returns the load settings of its refresh_token grant. */
async function upstreamRefreshLoad(upstream: UpstreamTarget): Promise<{ url: string; method: "POST"; headers: Record<string, string>; nextBody: () => string }> {
  const pkce = createPkce();
  const redirectUri = "http://127.0.0.1:9/callback";
  const authorize = new URL(`${upstream.url}/authorize`);
  authorize.search = new URLSearchParams({
    response_type: "code",
    client_id: upstream.clientId,
    redirect_uri: redirectUri,
    code_challenge: pkce.challenge,
    code_challenge_method: "S256",
  }).toString();
  const redirect = await fetch(authorize, { redirect: "manual" });
  const code = new URL(redirect.headers.get("location") ?? redirectUri).searchParams.get("code") ?? "";

  const basic = `Basic ${Buffer.from(`${formEncode(upstream.clientId)}:${formEncode(upstream.clientSecret)}`).toString("base64")}`;
  const headers = { "content-type": "application/x-www-form-urlencoded", authorization: basic };
  const response = await fetch(`${upstream.url}/token`, {
    method: "POST",
    headers,
    body: new URLSearchParams({ grant_type: "authorization_code", code, redirect_uri: redirectUri, code_verifier: pkce.verifier }),
  });
  const tokens = await response.json() as { refresh_token?: string };
  if (tokens.refresh_token === undefined) {
    throw new Error(`The fake upstream responded with ${response.status} without a refresh token`);
  }

  const body = new URLSearchParams({ grant_type: "refresh_token", refresh_token: tokens.refresh_token }).toString();
  return { url: `${upstream.url}/token`, method: "POST", headers, nextBody: () => body };
}

function formEncode(value: string): string {
  return new URLSearchParams({ v: value }).toString().slice(2);
}
