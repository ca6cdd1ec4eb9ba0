import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { auth, UnauthorizedError } from "@modelcontextprotocol/sdk/client/auth.js";
import jwt from "jsonwebtoken";
import { expect } from "vitest";
import { approveInBrowser, HeadlessOAuthClient, TestBrowser } from "../../examples/demo/client.js";
import type { Harness } from "../helpers/harness.js";

function textOf(result: unknown): string {
  const content = (result as { content?: Array<{ text?: string }> }).content ?? [];
  return content.map((item) => item.text ?? "").join("");
}

/**
 * Runs the whole flow with the official MCP SDK client: challenge, discovery,
 * registration, consent, upstream sign-in, code exchange, a tool call that
 * returns the upstream identity, refresh and revocation.
 */
export async function runSdkClientFlow(harness: Harness, login: string): Promise<void> {
  const provider = new HeadlessOAuthClient();
  const client = new Client({ name: "e2e", version: "1.0.0" });
  const transport = new StreamableHTTPClientTransport(new URL(harness.mcpUrl), { authProvider: provider });
  await expect(client.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);

  const registration = provider.clientInformation();
  expect(registration?.client_id).toEqual(expect.any(String));
  const authorizationUrl = provider.authorizationUrl as URL;
  expect(authorizationUrl.origin + authorizationUrl.pathname).toBe(harness.metadata.authorization_endpoint);
  expect(authorizationUrl.searchParams.get("resource")).toBe(harness.mcpUrl);

  const upstreamBefore = harness.upstreamRequests.length;
  const signIn = await approveInBrowser(new TestBrowser(), authorizationUrl, login, provider.redirectUrl);
  expect(signIn.consentPage).toContain("mcp-oauth-proxy demo client");
  expect(signIn.upstreamUrl.origin).toBe(harness.demo.upstream.issuer);
  expect(harness.upstreamRequests.length).toBeGreaterThan(upstreamBefore);
  expect(signIn.callbackUrl.searchParams.get("iss")).toBe(harness.issuer);

  await transport.finishAuth(signIn.callbackUrl.searchParams.get("code") as string);
  const tokens = provider.tokens();
  expect(tokens?.token_type).toBe("Bearer");
  expect(tokens?.refresh_token).toEqual(expect.any(String));
  const claims = jwt.decode(tokens?.access_token as string) as Record<string, unknown>;
  expect(claims.iss).toBe(harness.issuer);
  expect(claims.aud).toBe(harness.mcpUrl);
  expect(claims.sub).toBe(login);

  const connected = new Client({ name: "e2e", version: "1.0.0" });
  await connected.connect(new StreamableHTTPClientTransport(new URL(harness.mcpUrl), { authProvider: provider }));
  const identity = JSON.parse(textOf(await connected.callTool({ name: "whoami", arguments: {} }))) as Record<string, unknown>;
  expect(identity.sub).toBe(login);
  expect(identity.email).toBe(`${login}@example.test`);

  await auth(provider, { serverUrl: harness.mcpUrl });
  const refreshed = provider.tokens();
  expect(refreshed?.access_token).not.toBe(tokens?.access_token);
  expect(refreshed?.refresh_token).not.toBe(tokens?.refresh_token);
  const again = JSON.parse(textOf(await connected.callTool({ name: "whoami", arguments: {} }))) as Record<string, unknown>;
  expect(again.sub).toBe(login);
  await connected.close();

  const revoked = await harness.revoke({ token: refreshed?.refresh_token as string, client_id: registration?.client_id as string });
  expect(revoked.status).toBe(200);
  const afterRevoke = await harness.callMcp(`Bearer ${refreshed?.access_token}`);
  expect(afterRevoke.status).toBe(401);
  expect(afterRevoke.headers.get("www-authenticate")).toContain('error="invalid_token"');
}
