import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { format } from "node:util";

import createDebug from "debug";
import express from "express";
import type { Request, Response } from "express";

import { oauthProxy } from "../../../lib/index.js";
import type { OAuthProxy, OAuthProxyOptions, UpstreamProvider } from "../../../lib/index.js";
import { parseForm, TestBrowser } from "../../../examples/demo/browser.js";
import { CHALLENGE, signInAtFake, VERIFIER } from "./browser.js";

/** The MCP client's redirect URI; nothing listens there, the browser stops before it. */
export const CLIENT_REDIRECT_URI = "http://127.0.0.1:9/client-callback";

/** A token endpoint success body. */
export interface ProxyTokens {
  access_token: string;
  refresh_token: string;
  token_type: string;
  expires_in: number;
  scope?: string;
}

/** An Express app on 127.0.0.1 with the proxy, and a `/mcp` route that returns `req.upstream`. */
export interface ProxyApp {
  baseUrl: string;
  mcpUrl: string;
  proxy: OAuthProxy;
  metadata: Record<string, string>;
  /** Registers a public client, runs consent and the upstream sign-in, and redeems the code. */
  signIn(login: string, options?: { scope?: string }): Promise<{ clientId: string; tokens: ProxyTokens }>;
  /** Runs the browser part only and returns the redirect the client received. */
  authorize(login: string, options?: { scope?: string }): Promise<{ clientId: string; callback: URL }>;
  token(fields: Record<string, string>): Promise<globalThis.Response>;
  callMcp(accessToken: string): Promise<globalThis.Response>;
  close(): Promise<void>;
}

/**
 * Starts the app and then `startProvider` with the proxy's callback URL (the
 * provider's fake must know it as a registered redirect URI).
 */
export async function startProxyApp(
  startProvider: (callbackUrl: string) => Promise<UpstreamProvider>,
  proxyOptions: Partial<OAuthProxyOptions> = { scopes: ["mcp:read"] },
): Promise<ProxyApp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const mcpUrl = `${baseUrl}/mcp`;

  const provider = await startProvider(`${baseUrl}/oauth/callback`);
  const proxy = oauthProxy({ baseUrl, provider, secret: randomBytes(32), ...proxyOptions });
  const app = express();
  app.use(proxy);
  app.all("/mcp", proxy.bearer(), (req: Request, res: Response) => {
    res.json({ upstream: req.upstream, clientId: req.auth?.clientId, scopes: req.auth?.scopes });
  });
  server.on("request", app);
  const metadata = await (await fetch(`${baseUrl}/.well-known/oauth-authorization-server`)).json() as Record<string, string>;

  async function authorize(login: string, options: { scope?: string } = {}): Promise<{ clientId: string; callback: URL }> {
    const registration = await fetch(metadata.registration_endpoint as string, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        redirect_uris: [CLIENT_REDIRECT_URI],
        token_endpoint_auth_method: "none",
        grant_types: ["authorization_code", "refresh_token"],
        response_types: ["code"],
        client_name: "Provider e2e client",
      }),
    });
    const { client_id: clientId } = await registration.json() as { client_id: string };

    const url = new URL(metadata.authorization_endpoint as string);
    const params = { response_type: "code", client_id: clientId, redirect_uri: CLIENT_REDIRECT_URI, code_challenge: CHALLENGE, code_challenge_method: "S256", state: "client-state", scope: options.scope ?? "mcp:read", resource: mcpUrl };
    for (const [name, value] of Object.entries(params)) {
      url.searchParams.set(name, value);
    }

    const browser = new TestBrowser();
    const consent = await browser.get(url);
    if (consent.status !== 200) {
      throw new Error(`The consent page answered ${consent.status}: ${consent.body.slice(0, 300)}`);
    }
    const form = parseForm(consent.body, { buttonValue: "approve" });
    const action = new URL(form.action, url);
    const approved = await browser.postForm(action, form.fields, { origin: action.origin });
    if (approved.location === undefined) {
      throw new Error(`Approval answered ${approved.status}: ${approved.body.slice(0, 300)}`);
    }
    const callback = await signInAtFake(browser, approved.location, login, (next) => next.href.startsWith(CLIENT_REDIRECT_URI));
    return { clientId, callback };
  }

  function token(fields: Record<string, string>): Promise<globalThis.Response> {
    return fetch(metadata.token_endpoint as string, { method: "POST", headers: { "content-type": "application/x-www-form-urlencoded" }, body: new URLSearchParams(fields).toString() });
  }

  return {
    baseUrl,
    mcpUrl,
    proxy,
    metadata,
    authorize,
    token,
    async signIn(login, options = {}) {
      const { clientId, callback } = await authorize(login, options);
      const code = callback.searchParams.get("code");
      if (code === null) {
        throw new Error(`The proxy redirected without a code: ${callback.href}`);
      }
      const response = await token({ grant_type: "authorization_code", code, code_verifier: VERIFIER, client_id: clientId, redirect_uri: CLIENT_REDIRECT_URI, resource: mcpUrl });
      if (response.status !== 200) {
        throw new Error(`The token endpoint answered ${response.status}: ${await response.text()}`);
      }
      return { clientId, tokens: await response.json() as ProxyTokens };
    },
    callMcp: (accessToken) => fetch(mcpUrl, { method: "POST", headers: { authorization: `Bearer ${accessToken}` } }),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    },
  };
}

/** Captures what the proxy logs under `namespaces` while `body` runs. */
export async function captureLogs(namespaces: string, body: () => Promise<void>): Promise<string[]> {
  const lines: string[] = [];
  const previousLog = createDebug.log;
  const previousNamespaces = createDebug.disable();
  createDebug.log = (...args: unknown[]) => {
    lines.push(format(...args));
  };
  createDebug.enable(namespaces);
  try {
    await body();
  } finally {
    createDebug.log = previousLog;
    createDebug.disable();
    if (previousNamespaces !== "") {
      createDebug.enable(previousNamespaces);
    }
  }
  return lines;
}
