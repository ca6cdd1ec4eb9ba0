import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import { approveInBrowser, HeadlessOAuthClient, TestBrowser } from "./client.js";

/** The URLs a flow needs: the public base URL and the MCP endpoint under it. */
export interface FlowTarget {
  baseUrl: string;
  mcpUrl: string;
}

/**
 * Runs the whole sign-in with the official MCP SDK client and prints each step
 * with its timing: 401 challenge, discovery and registration, consent and
 * upstream sign-in, code exchange, tool call, refresh, revocation and the 401
 * that follows. Throws at the first step that does not behave.
 */
export async function runFlow(demo: FlowTarget): Promise<void> {
  const step = timer();

  const unauthenticated = await fetch(demo.mcpUrl, { method: "POST" });
  step("401 challenge", `${unauthenticated.status} WWW-Authenticate: ${unauthenticated.headers.get("www-authenticate")}`);

  const provider = new HeadlessOAuthClient();
  const transport = new StreamableHTTPClientTransport(new URL(demo.mcpUrl), { authProvider: provider });
  const client = new Client({ name: "mcp-oauth-proxy-demo-client", version: "1.0.0" });
  try {
    await client.connect(transport);
    throw new Error("The client connected without signing in");
  } catch (error) {
    if (!(error instanceof UnauthorizedError) || provider.authorizationUrl === undefined) {
      throw error;
    }
  }
  const registered = provider.clientInformation();
  step("discovery and registration", `client_id=${registered?.client_id}`);

  const browser = new TestBrowser();
  const signIn = await approveInBrowser(browser, provider.authorizationUrl, "alice", provider.redirectUrl);
  step("consent and upstream sign-in", `redirected to ${signIn.callbackUrl.origin}${signIn.callbackUrl.pathname} with code, state and iss=${signIn.callbackUrl.searchParams.get("iss")}`);

  const code = signIn.callbackUrl.searchParams.get("code");
  if (code === null) {
    throw new Error(`The proxy redirected without a code: ${signIn.callbackUrl.href}`);
  }
  await transport.finishAuth(code);
  const firstTokens = provider.tokens();
  step("code exchange", `access token (JWT, ${firstTokens?.expires_in} s) and refresh token received`);

  const connected = new Client({ name: "mcp-oauth-proxy-demo-client", version: "1.0.0" });
  await connected.connect(new StreamableHTTPClientTransport(new URL(demo.mcpUrl), { authProvider: provider }));
  const whoami = await connected.callTool({ name: "whoami", arguments: {} });
  step("tool call", `whoami -> ${textOf(whoami)}`);

  await auth(provider, { serverUrl: demo.mcpUrl });
  const refreshed = provider.tokens();
  if (refreshed === undefined || refreshed.access_token === firstTokens?.access_token) {
    throw new Error("The refresh did not issue a new access token");
  }
  const again = await connected.callTool({ name: "whoami", arguments: {} });
  step("refresh", `new access token works: whoami -> ${textOf(again)}`);
  await connected.close();

  const metadata = await (await fetch(`${demo.baseUrl}/.well-known/oauth-authorization-server`)).json() as { revocation_endpoint: string };
  const revoked = await fetch(metadata.revocation_endpoint, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({ token: refreshed.refresh_token ?? "", client_id: registered?.client_id ?? "" }),
  });
  step("revoke", `revocation endpoint answered ${revoked.status}`);

  const afterRevoke = await fetch(demo.mcpUrl, {
    method: "POST",
    headers: { authorization: `Bearer ${refreshed.access_token}`, "content-type": "application/json", accept: "application/json, text/event-stream" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }),
  });
  if (afterRevoke.status !== 401) {
    throw new Error(`The revoked access token still answered ${afterRevoke.status}`);
  }
  step("401 after revoke", `${afterRevoke.status} WWW-Authenticate: ${afterRevoke.headers.get("www-authenticate")}`);
}

function timer(): (name: string, detail: string) => void {
  let last = performance.now();
  let index = 0;
  return (name, detail) => {
    const now = performance.now();
    index += 1;
    console.log(`${String(index).padStart(2)}. ${name.padEnd(30)} ${String(Math.round(now - last)).padStart(5)} ms  ${detail}`);
    last = now;
  };
}

function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ type: string; text?: string }> }).content ?? [];
  return content.map((item) => item.text ?? "").join(" ");
}

