// Child process: full sign-in latency through the proxy against the embedded OpenID provider,
// next to the same sign-in done directly at that provider.
//   node --import tsx bench/processes/sign-in-latency.ts <runs>
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { startDemo, startSharedUpstream, UPSTREAM_CLIENT_ID } from "../../examples/demo/app.js";
import type { SharedUpstream } from "../../examples/demo/app.js";
import { signInAtUpstream, TestBrowser } from "../../examples/demo/browser.js";
import { approveInBrowser, HeadlessOAuthClient } from "../../examples/demo/client.js";
import { reportResult } from "../child-process.js";
import type { SignInLatencyResult } from "../scenarios/sign-in-latency.js";
import { createPkce } from "../sign-in.js";

/** Redirect URI of the direct sign-in; nothing listens there, because the browser stops before requesting it. */
const DIRECT_REDIRECT_URI = "http://127.0.0.1:9/direct-callback";

const runs = Number(process.argv[2] ?? 5);

reportResult(async (): Promise<SignInLatencyResult> => {
  const port = await freePort();
  const upstream = await startSharedUpstream([`http://127.0.0.1:${port}/oauth/callback`, DIRECT_REDIRECT_URI]);
  const demo = await startDemo({ port, upstream });
  try {
    // The first sign-in warms up both servers and shows which authorization request the proxy sends upstream.
    const upstreamRequest = (await signInThroughProxy(demo.mcpUrl)).upstreamUrl;
    await signInDirectly(upstream, upstreamRequest);

    const result: SignInLatencyResult = { proxy: [], direct: [] };
    for (let run = 0; run < runs; run++) {
      result.proxy.push((await signInThroughProxy(demo.mcpUrl)).milliseconds);
      result.direct.push(await signInDirectly(upstream, upstreamRequest));
    }
    return result;
  } finally {
    await demo.close();
    await upstream.server.close();
  }
});

/**
 * Times a sign-in by the official MCP SDK client, as in the demo. It covers the first request
 * and its 401, discovery, registration, consent, the upstream login and consent pages, the code
 * exchange, and a `whoami` tool call that reads the upstream user-info endpoint.
 */
async function signInThroughProxy(mcpUrl: string): Promise<{ milliseconds: number; upstreamUrl: URL }> {
  const started = performance.now();
  const provider = new HeadlessOAuthClient();
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider });
  try {
    await new Client({ name: "bench", version: "1.0.0" }).connect(transport);
    throw new Error("The client connected without signing in");
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || provider.authorizationUrl === undefined) {
      throw error;
    }
  }

  const signIn = await approveInBrowser(new TestBrowser(), provider.authorizationUrl, "alice", provider.redirectUrl);
  const code = signIn.callbackUrl.searchParams.get("code");
  if (code === null) {
    throw new Error(`The proxy redirected without a code: ${signIn.callbackUrl.href}`);
  }
  await transport.finishAuth(code);

  const client = new Client({ name: "bench", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: provider }));
  const result = await client.callTool({ name: "whoami", arguments: {} });
  const milliseconds = performance.now() - started;
  await client.close();
  if (result.isError === true) {
    throw new Error(`whoami failed: ${JSON.stringify(result.content)}`);
  }
  return { milliseconds, upstreamUrl: signIn.upstreamUrl };
}

/**
 * Times a plain OpenID Connect sign-in at the same provider, as a confidential client does it
 * without the proxy. It sends the authorization request the proxy sends, with its own redirect
 * URI, state and PKCE challenge. Discovery, the login and consent pages, the code exchange and
 * one user-info request are included.
 */
async function signInDirectly(upstream: SharedUpstream, proxyRequest: URL): Promise<number> {
  const started = performance.now();
  const issuer = upstream.server.issuer;
  const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as { token_endpoint: string; userinfo_endpoint: string };

  const pkce = createPkce();
  const authorization = new URL(proxyRequest);
  authorization.searchParams.set("redirect_uri", DIRECT_REDIRECT_URI);
  authorization.searchParams.set("state", crypto.randomUUID());
  authorization.searchParams.set("code_challenge", pkce.challenge);
  const callback = await signInAtUpstream(new TestBrowser(), authorization, "alice", { stopAt: (url) => url.href.startsWith(DIRECT_REDIRECT_URI) });

  const credentials = Buffer.from(`${UPSTREAM_CLIENT_ID}:${encodeURIComponent(upstream.clientSecret)}`).toString("base64");
  const tokenResponse = await fetch(discovery.token_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${credentials}` },
    body: new URLSearchParams({ grant_type: "authorization_code", code: callback.searchParams.get("code") ?? "", redirect_uri: DIRECT_REDIRECT_URI, code_verifier: pkce.verifier }),
  });
  const tokens = await tokenResponse.json() as { access_token?: string };
  if (tokens.access_token === undefined) {
    throw new Error(`The provider's token endpoint responded with ${tokenResponse.status}: ${JSON.stringify(tokens)}`);
  }

  const userinfo = await fetch(discovery.userinfo_endpoint, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  await userinfo.json();
  const milliseconds = performance.now() - started;
  if (userinfo.status !== 200) {
    throw new Error(`The user-info endpoint responded with ${userinfo.status}`);
  }
  return milliseconds;
}

/** Returns a port that was free a moment ago, so the provider can register the proxy's callback URL before the proxy starts. */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
