import { runChild } from "../child-process.js";
import type { Figure } from "../report.js";

/** Milliseconds per sign-in, one value per run. */
export interface SignInLatencyResult {
  proxy: number[];
  direct: number[];
}

/** Runs bench/processes/sign-in-latency.ts and builds figure 4. */
export async function measureSignInLatency(settings: { runs: number }): Promise<Figure> {
  const result = await runChild<SignInLatencyResult>("sign-in-latency", [String(settings.runs)], { timeoutMs: 120_000 });
  return {
    title: "4. Full sign-in latency",
    method: [
      "The demo app (`examples/demo/app.ts`): the proxy with `OIDCProvider` in front of the embedded OpenID provider (panva's oidc-provider, in memory), and an MCP server whose `whoami` tool reads the provider's user-info endpoint with the caller's upstream access token. " +
        "The official MCP SDK client drives the flow as in `npm run demo`: the first request and its 401, discovery, dynamic registration, the consent page, the provider's login and consent pages, the code exchange, a new connection and the `whoami` call. " +
        "The time runs from the first request to the tool result. One sign-in warms up first.",
      "Baseline, in the same run: the same sign-in done directly at the provider, without the proxy, as a confidential client would do it: discovery, the authorization request the proxy sends (with the baseline's own redirect URI, state and PKCE challenge), the login and consent pages, the code exchange and one user-info request. " +
        "The ratio is the time the proxy's extra round trips and its own endpoints add.",
    ],
    rows: [{
      id: "sign-in",
      measurement: "sign-in through the proxy, first request to first tool result",
      unit: "ms",
      decimals: 1,
      values: result.proxy,
      baseline: "the same OpenID Connect sign-in directly at the provider",
      baselineValues: result.direct,
    }],
  };
}
