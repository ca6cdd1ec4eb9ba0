import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import type { Request, Response as ExpressResponse } from "express";
import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { OIDCProvider, oauthProxy } from "mcp-oauth-proxy";
import type { OAuthProxy } from "mcp-oauth-proxy";
import { UPSTREAM_CLIENT_ID } from "../../examples/demo/app.js";
import { TestBrowser, parseForm, signInAtUpstream } from "../../examples/demo/browser.js";
import { startUpstream } from "../../examples/demo/upstream.js";
import type { Upstream } from "../../examples/demo/upstream.js";
import { CHALLENGE, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";

const ACCESS_TOKEN_TTL = 600;

/**
 * An app that serves MCP under /api: the proxy at the root, `/api/mcp` and
 * `/api/mcp-b` as two protected resources, each guarded by its own `bearer()`.
 */
interface ApiApp {
  baseUrl: string;
  proxy: OAuthProxy;
  upstream: Upstream;
  server: Server;
}

let app: ApiApp;
let resourceA: string;
let resourceB: string;
let prmA: string;

beforeAll(async () => {
  app = await startApiApp();
  resourceA = `${app.baseUrl}/api/mcp`;
  resourceB = `${app.baseUrl}/api/mcp-b`;
  prmA = `${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp`;
});

afterAll(async () => {
  app.server.closeAllConnections();
  await new Promise<void>((resolve) => app.server.close(() => resolve()));
  await app.proxy.close();
  await app.upstream.close();
});

afterEach(() => {
  vi.useRealTimers();
});

async function startApiApp(): Promise<ApiApp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const clientSecret = randomBytes(24).toString("base64url");
  const upstream = await startUpstream({
    clients: [{ clientId: UPSTREAM_CLIENT_ID, clientSecret, redirectUris: [`${baseUrl}/oauth/callback`] }],
  });

  const proxy = oauthProxy({
    baseUrl,
    provider: new OIDCProvider({ issuer: upstream.issuer, clientId: UPSTREAM_CLIENT_ID, clientSecret, scopes: ["openid", "offline_access"] }),
    secret: randomBytes(32),
    resource: ["/api/mcp", "/api/mcp-b"],
    scopes: ["mcp:read"],
    accessTokenTtl: ACCESS_TOKEN_TTL,
    rateLimits: false,
  });
  const web = express();
  web.use(proxy);
  const answer = (req: Request, res: ExpressResponse): void => {
    res.json({ resource: req.auth?.resource?.href, clientId: req.auth?.clientId });
  };
  web.all("/api/mcp", proxy.bearer({ resource: "/api/mcp" }), answer);
  web.all("/api/mcp-b", proxy.bearer({ resource: "/api/mcp-b" }), answer);
  server.on("request", web);
  return { baseUrl, proxy, upstream, server };
}

async function register(): Promise<string> {
  const response = await fetch(`${app.baseUrl}/oauth/register`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none", client_name: "Resource test" }),
  });
  expect(response.status).toBe(201);
  return ((await response.json()) as { client_id: string }).client_id;
}

function authorizeUrl(clientId: string, resource: string | undefined): URL {
  const url = new URL(`${app.baseUrl}/oauth/authorize`);
  const params: Record<string, string | undefined> = {
    response_type: "code",
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    code_challenge: CHALLENGE,
    code_challenge_method: "S256",
    state: "xyz",
    resource,
  };
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined) {
      url.searchParams.set(name, value);
    }
  }
  return url;
}

/** Signs in through consent and the upstream and returns the code sent to the client. */
async function signIn(resource: string | undefined): Promise<{ clientId: string; code: string }> {
  const clientId = await register();
  const browser = new TestBrowser();
  const page = await browser.get(authorizeUrl(clientId, resource));
  expect(page.status, page.body.slice(0, 200)).toBe(200);
  const form = parseForm(page.body, { buttonValue: "approve" });
  const approved = await browser.postForm(new URL(form.action, app.baseUrl), form.fields, { origin: app.baseUrl });
  const callback = await signInAtUpstream(browser, approved.location ?? "", "alice", {
    stopAt: (url) => url.href.startsWith(REDIRECT_URI),
  });
  return { clientId, code: callback.searchParams.get("code") ?? "" };
}

function redeem(clientId: string, code: string, resource?: string): Promise<globalThis.Response> {
  return fetch(`${app.baseUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "authorization_code",
      code,
      code_verifier: VERIFIER,
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
      ...(resource === undefined ? {} : { resource }),
    }).toString(),
  });
}

/** Signs in and redeems the code, optionally naming `tokenResource` at the token endpoint. */
async function accessTokenFor(resource: string | undefined, tokenResource?: string): Promise<string> {
  const { clientId, code } = await signIn(resource);
  const response = await redeem(clientId, code, tokenResource);
  expect(response.status).toBe(200);
  return ((await response.json()) as { access_token: string }).access_token;
}

function audience(accessToken: string): unknown {
  return (jsonwebtoken.decode(accessToken) as JwtPayload).aud;
}

/** Asserts a 401 whose challenge names `metadataUrl`, and that the URL serves the metadata of `resource`. */
async function expectChallenge(response: globalThis.Response, error: string | undefined, metadataUrl: string, resource: string): Promise<void> {
  await response.body?.cancel();
  expect(response.status).toBe(401);
  const header = response.headers.get("www-authenticate") ?? "";
  expect(header).toMatch(/^Bearer /);
  expect(header).toContain(`resource_metadata="${metadataUrl}"`);
  if (error === undefined) {
    expect(header).not.toContain("error=");
  } else {
    expect(header).toContain(`error="${error}"`);
  }

  const metadata = await fetch(metadataUrl);
  expect(metadata.status).toBe(200);
  expect(((await metadata.json()) as { resource: string }).resource).toBe(resource);
}

describe("MCP endpoint mounted at /api/mcp", () => {
  it("serves path-inserted metadata naming exactly that resource", async () => {
    const response = await fetch(prmA);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await response.json() as Record<string, unknown>;
    expect(body.resource).toBe(resourceA);
    expect(body.authorization_servers).toEqual([app.baseUrl]);
  });

  it("answers no well-known probe with a 5xx", async () => {
    const probes = [
      "/.well-known/oauth-protected-resource",
      "/.well-known/oauth-protected-resource/api",
      "/.well-known/oauth-protected-resource/api/mcp/",
      "/.well-known/oauth-protected-resource/mcp",
      "/.well-known/oauth-protected-resource/api/mcp?x=1",
      "/.well-known/oauth-protected-resource/%2e%2e/api/mcp",
      "/.well-known/oauth-protected-resource/api/mcp%00",
      "/api/mcp/.well-known/oauth-protected-resource",
      "/.well-known/oauth-authorization-server",
      "/.well-known/oauth-authorization-server/api/mcp",
      "/.well-known/openid-configuration",
      "/api/mcp/.well-known/openid-configuration",
    ];
    for (const probe of probes) {
      const response = await fetch(`${app.baseUrl}${probe}`, { headers: { "mcp-protocol-version": "2025-06-18" } });
      await response.body?.cancel();
      expect(response.status, probe).toBeLessThan(500);
    }
  });

  it("challenges a request without a token", async () => {
    await expectChallenge(await fetch(resourceA, { method: "POST" }), undefined, prmA, resourceA);
  });

  it("challenges a garbage token", async () => {
    await expectChallenge(await fetch(resourceA, { method: "POST", headers: { authorization: "Bearer garbage" } }), "invalid_token", prmA, resourceA);
  });

  it("challenges an expired token", async () => {
    const accessToken = await accessTokenFor(resourceA);
    const fresh = await fetch(resourceA, { method: "POST", headers: { authorization: `Bearer ${accessToken}` } });
    expect(fresh.status).toBe(200);
    await fresh.body?.cancel();

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + (ACCESS_TOKEN_TTL + 120) * 1000);
    await expectChallenge(await fetch(resourceA, { method: "POST", headers: { authorization: `Bearer ${accessToken}` } }), "invalid_token", prmA, resourceA);
  });

  it("challenges a GET that opens a stream", async () => {
    const response = await fetch(resourceA, { headers: { accept: "text/event-stream" } });
    await expectChallenge(response, undefined, prmA, resourceA);
  });

  it("issues tokens for the mounted resource", async () => {
    const accessToken = await accessTokenFor(resourceA);
    expect(audience(accessToken)).toBe(resourceA);

    const response = await fetch(resourceA, { method: "POST", headers: { authorization: `Bearer ${accessToken}` } });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ resource: resourceA });
  });
});

describe("resource identifiers", () => {
  it("treats a trailing slash as the same resource", async () => {
    const accessToken = await accessTokenFor(`${resourceA}/`);
    expect(audience(accessToken)).toBe(resourceA);

    const atToken = await accessTokenFor(resourceA, `${resourceA}/`);
    expect(audience(atToken)).toBe(resourceA);
  });

  it("redirects a foreign resource with invalid_target", async () => {
    const clientId = await register();
    for (const resource of ["https://other.example.com/api/mcp", `${app.baseUrl}/api/other`, `${app.baseUrl}/api/mcp//`]) {
      const response = await fetch(authorizeUrl(clientId, resource), { redirect: "manual" });
      await response.body?.cancel();
      expect(response.status, resource).toBe(302);
      const location = new URL(response.headers.get("location") ?? "");
      expect(location.origin + location.pathname).toBe(REDIRECT_URI);
      expect(location.searchParams.get("error")).toBe("invalid_target");
      expect(location.searchParams.get("state")).toBe("xyz");
      expect(location.searchParams.get("iss")).toBe(app.baseUrl);
      expect(location.searchParams.has("code")).toBe(false);
    }
  });

  it("rejects a token for A at B", async () => {
    const forA = await accessTokenFor(resourceA);
    const forB = await accessTokenFor(resourceB);
    const prmB = `${app.baseUrl}/.well-known/oauth-protected-resource/api/mcp-b`;

    expect((await fetch(resourceA, { method: "POST", headers: { authorization: `Bearer ${forA}` } })).status).toBe(200);
    expect((await fetch(resourceB, { method: "POST", headers: { authorization: `Bearer ${forB}` } })).status).toBe(200);
    await expectChallenge(await fetch(resourceB, { method: "POST", headers: { authorization: `Bearer ${forA}` } }), "invalid_token", prmB, resourceB);
    await expectChallenge(await fetch(resourceA, { method: "POST", headers: { authorization: `Bearer ${forB}` } }), "invalid_token", prmA, resourceA);
  });

  it("keeps the token endpoint within the granted resource", async () => {
    const { clientId, code } = await signIn(resourceA);
    const response = await redeem(clientId, code, resourceB);
    expect(response.status).toBe(400);
    expect(await response.json()).toMatchObject({ error: "invalid_target" });
  });
});
