import { randomBytes } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { OAuthProvider, oauthProxy, OptionError } from "mcp-oauth-proxy";
import type { OAuthProxy, OAuthProxyOptions } from "mcp-oauth-proxy";
import { TestBrowser, signInAtUpstream } from "../../examples/demo/browser.js";
import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";

const AS_METADATA_PATH = "/.well-known/oauth-authorization-server";
const PRM_PATH = "/.well-known/oauth-protected-resource/mcp";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

/** A provider whose endpoints are never contacted: these tests only read documents and options. */
const idleProvider = new OAuthProvider({
  clientId: "proxy",
  clientSecret: "upstream-secret",
  authorizationEndpoint: "https://idp.example.com/authorize",
  tokenEndpoint: "https://idp.example.com/token",
});

interface BareApp {
  /** Where the app listens, which differs from the issuer when `baseUrl` is not 127.0.0.1. */
  localUrl: string;
  proxy: OAuthProxy;
  stop(): Promise<void>;
}

/** Starts an app on 127.0.0.1 with only the proxy mounted; `baseUrl` defaults to the app's own address. */
async function startBareApp(options: Partial<OAuthProxyOptions> = {}, path = ""): Promise<BareApp> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const localUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const proxy = oauthProxy({
    baseUrl: localUrl + path,
    provider: idleProvider,
    secret: randomBytes(32).toString("base64url"),
    rateLimits: false,
    ...options,
  });
  const app = express();
  app.use(proxy);
  server.on("request", app);
  return {
    localUrl,
    proxy,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await proxy.close();
    },
  };
}

/** Collects every string in a metadata document that is an absolute URL, with the member it sits in. */
function urlMembers(document: Record<string, unknown>): Array<[string, string]> {
  const found: Array<[string, string]> = [];
  for (const [name, value] of Object.entries(document)) {
    for (const entry of Array.isArray(value) ? value : [value]) {
      if (typeof entry === "string" && /^[a-z][a-z0-9+.-]*:\/\//i.test(entry)) {
        found.push([name, entry]);
      }
    }
  }
  return found;
}

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json() as Record<string, unknown> };
}

/** Runs a whole 2025-03-26 style flow through the root paths, without reading any metadata. */
async function signInThroughRootPaths(): Promise<{ clientId: string; code: string }> {
  const registration = await harness.postJson(`${harness.issuer}/register`, {
    redirect_uris: [REDIRECT_URI],
    token_endpoint_auth_method: "none",
    client_name: "2025-03-26 client",
  });
  expect(registration.status).toBe(201);
  const { client_id: clientId } = await registration.json() as { client_id: string };

  const authorizeUrl = harness.authorizeUrl(clientId);
  authorizeUrl.pathname = "/authorize";
  const browser = new TestBrowser();
  const consent = await harness.openConsent(browser, authorizeUrl);
  const approved = await browser.postForm(consent.action, consent.fields, { origin: harness.issuer });
  expect(approved.location).toBeDefined();

  const callback = await signInAtUpstream(browser, approved.location ?? "", "alice", {
    stopAt: (url) => url.href.startsWith(REDIRECT_URI),
  });
  return { clientId, code: callback.searchParams.get("code") ?? "" };
}

describe("S12 2025-03-26 clients find the endpoints at the origin root", () => {
  it("serves the same metadata to a 2024-11-05 client", async () => {
    const plain = await getJson(harness.issuer + AS_METADATA_PATH);
    for (const version of ["2024-11-05", "2025-03-26"]) {
      const versioned = await getJson(harness.issuer + AS_METADATA_PATH, { "mcp-protocol-version": version });
      expect(versioned.status, version).toBe(200);
      expect(versioned.body, version).toEqual(plain.body);
    }
  });

  it("keeps advertising the /oauth endpoints", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);
    expect(body.authorization_endpoint).toBe(`${harness.issuer}/oauth/authorize`);
    expect(body.token_endpoint).toBe(`${harness.issuer}/oauth/token`);
    expect(body.registration_endpoint).toBe(`${harness.issuer}/oauth/register`);
  });

  it("completes register, authorize and token at the root", async () => {
    const { clientId, code } = await signInThroughRootPaths();
    expect(code).not.toBe("");

    const response = await harness.postForm(`${harness.issuer}/token`, {
      grant_type: "authorization_code",
      code,
      code_verifier: VERIFIER,
      client_id: clientId,
      redirect_uri: REDIRECT_URI,
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("cache-control")).toBe("no-store");
    const tokens = await response.json() as { access_token: string };
    expect((await harness.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);
  });

  it("answers errors at the root paths as at /oauth", async () => {
    const badJson = await fetch(`${harness.issuer}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(badJson.status).toBe(400);
    expect(await badJson.json()).toMatchObject({ error: "invalid_client_metadata" });

    const unknownClient = await fetch(`${harness.issuer}/authorize?client_id=nope&response_type=code`, { redirect: "manual" });
    expect(unknownClient.status).toBe(400);
    expect(unknownClient.headers.get("content-type")).toMatch(/^text\/html\b/);
    expect(unknownClient.headers.get("location")).toBeNull();

    const tokenGet = await fetch(`${harness.issuer}/token`);
    expect(tokenGet.status).toBe(405);
    expect(await tokenGet.json()).toMatchObject({ error: "invalid_request" });

    const client = await harness.register();
    const fields = { grant_type: "password", client_id: client.client_id };
    const atRoot = await harness.postForm(`${harness.issuer}/token`, fields);
    const atOauth = await harness.token(fields);
    expect(atRoot.status).toBe(400);
    expect(atOauth.status).toBe(400);
    expect(await atRoot.json()).toEqual(await atOauth.json());
  });

  it("serves the root paths at the origin when the issuer has a path", async () => {
    const app = await startBareApp({}, "/auth");
    try {
      expect(app.proxy.metadata.registration_endpoint).toBe(`${app.localUrl}/auth/oauth/register`);
      const response = await fetch(`${app.localUrl}/register`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" }),
      });
      expect(response.status).toBe(201);
    } finally {
      await app.stop();
    }
  });

  it("leaves the root paths to the app with rootEndpointAliases false", async () => {
    const app = await startBareApp({ rootEndpointAliases: false });
    try {
      const register = await fetch(`${app.localUrl}/register`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      const authorize = await fetch(`${app.localUrl}/authorize?client_id=nope`, { redirect: "manual" });
      const token = await fetch(`${app.localUrl}/token`, { method: "POST" });
      expect([register.status, authorize.status, token.status]).toEqual([404, 404, 404]);

      const real = await fetch(`${app.localUrl}/oauth/token`, { method: "POST" });
      expect(real.status).toBe(400);
    } finally {
      await app.stop();
    }
  });

  it("rejects a rootEndpointAliases that is not a boolean", () => {
    expect(() => oauthProxy({ baseUrl: "https://mcp.example.com", provider: idleProvider, secret: "s".repeat(32), rootEndpointAliases: "no" as unknown as boolean }))
      .toThrow(OptionError);
  });
});

describe("S13 plain http only for loopback base URLs", () => {
  for (const baseUrl of ["http://mcp.example.com", "http://192.168.1.10:3000", "http://127.0.0.2:3000", "http://0.0.0.0:8080"]) {
    it(`rejects the base URL ${baseUrl}`, () => {
      let thrown: unknown;
      try {
        oauthProxy({ baseUrl, provider: idleProvider, secret: "s".repeat(32) });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(OptionError);
      expect((thrown as OptionError).option).toBe("baseUrl");
      expect((thrown as OptionError).message).toMatch(/https/);
    });
  }

  for (const baseUrl of ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080"]) {
    it(`accepts the loopback base URL ${baseUrl}`, async () => {
      const proxy = oauthProxy({ baseUrl, provider: idleProvider, secret: "s".repeat(32) });
      expect(proxy.metadata.issuer).toBe(baseUrl);
      await proxy.close();
    });
  }

  it("publishes only https URLs for an https base URL", async () => {
    const app = await startBareApp({ baseUrl: "https://mcp.example.com", jwt: { algorithm: "ES256" }, introspection: { clients: [{ id: "gateway", secret: "g".repeat(32) }] } });
    try {
      const asMetadata = await getJson(app.localUrl + AS_METADATA_PATH);
      const prm = await getJson(app.localUrl + PRM_PATH);
      const urls = [...urlMembers(asMetadata.body), ...urlMembers(prm.body)];

      // issuer, five endpoints, jwks_uri, introspection, resource and authorization_servers.
      expect(urls.length).toBeGreaterThanOrEqual(9);
      for (const [name, url] of urls) {
        expect(url, name).toMatch(/^https:\/\//);
        expect(new URL(url).origin, name).toBe("https://mcp.example.com");
      }
      expect(prm.body.resource).toBe("https://mcp.example.com/mcp");
    } finally {
      await app.stop();
    }
  });

  it("publishes loopback http URLs only in the loopback development setup", async () => {
    const prm = await getJson(harness.issuer + PRM_PATH);
    const urls = [...urlMembers(harness.metadata), ...urlMembers(prm.body)];

    expect(urls.length).toBeGreaterThanOrEqual(7);
    for (const [name, url] of urls) {
      expect(url.startsWith(`${harness.issuer}/`) || url === harness.issuer, name).toBe(true);
      expect(new URL(url).hostname, name).toBe("127.0.0.1");
    }
  });
});
