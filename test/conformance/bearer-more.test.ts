import { randomBytes, randomUUID } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import express from "express";
import express4 from "express4";
import type { Express, Request as ExpressRequest, Response as ExpressResponse } from "express";
import jsonwebtoken from "jsonwebtoken";
import type { JwtPayload } from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { OAuthProvider, oauthProxy, OptionError } from "mcp-oauth-proxy";
import type { OAuthProxy, OAuthProxyOptions } from "mcp-oauth-proxy";
import { deriveKeys } from "../../lib/core/keys.js";
import { buildScopeHierarchy, expandScopes } from "../../lib/core/scope-hierarchy.js";
import { Harness } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

const SECRET = randomBytes(32).toString("base64url");
const SCOPES = ["mcp:read", "mcp:write", "mcp:admin"];

let harness: Harness;
let side: SideApp;
let prmUrl: string;

beforeAll(async () => {
  harness = await Harness.start({
    proxyOptions: {
      secret: SECRET,
      resource: ["/mcp", "/mcp-b"],
      scopes: SCOPES,
      scopeHierarchy: { "mcp:admin": ["mcp:read", "mcp:write"] },
    },
    accessTokenTtl: 86_400,
  });
  prmUrl = `${harness.issuer}/.well-known/oauth-protected-resource/mcp`;
  side = await startSideApp((app) => mountSideRoutes(app, harness.demo.proxy));
});

afterAll(async () => {
  await side.close();
  await harness.close();
});

afterEach(() => {
  vi.useRealTimers();
});

interface SideApp {
  url: string;
  close(): Promise<void>;
}

/** Starts an app on 127.0.0.1 whose routes use `bearer()` with options the demo app does not use. */
async function startSideApp(mount: (app: Express) => void): Promise<SideApp> {
  const app = express();
  mount(app);
  const server = createServer(app);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function answerScopes(req: ExpressRequest, res: ExpressResponse): void {
  res.json({ scopes: req.auth?.scopes, resource: req.auth?.resource?.href });
}

function answerBody(req: ExpressRequest, res: ExpressResponse): void {
  res.json({ body: req.body as unknown });
}

function mountSideRoutes(app: Express, proxy: OAuthProxy): void {
  app.all("/write", proxy.bearer({ scopes: ["mcp:write"] }), answerScopes);
  app.all("/read-write", proxy.bearer({ scopes: ["mcp:read", "mcp:write"] }), answerScopes);
  app.all("/admin", proxy.bearer({ scopes: ["mcp:admin"] }), answerScopes);
  app.all("/mcp-b", proxy.bearer({ resource: "/mcp-b" }), answerScopes);
  app.all("/upstream-token", proxy.bearer(), (req: ExpressRequest, res: ExpressResponse) => {
    res.json({ accessToken: req.upstream?.accessToken });
  });
  app.post("/parsed", express.urlencoded({ extended: false }), proxy.bearer(), answerScopes);
  // A JSON parser in front sets an empty req.body without reading a form.
  app.post("/json-first", express4.json(), proxy.bearer(), answerScopes);
  // body-parser 2 (Express 5) and body-parser 1 (Express 4) after bearer(), which has already read the form.
  app.post("/parsed-after", proxy.bearer(), express.urlencoded({ extended: false }), answerBody);
  app.post("/parsed-after-4", proxy.bearer(), express4.urlencoded({ extended: false }), answerBody);
  app.options("/plain", proxy.bearer(), (_req: ExpressRequest, res: ExpressResponse) => {
    res.setHeader("x-reached", "handler");
    res.status(204).end();
  });
  mountStatefulMcp(app, proxy);
}

/** Mounts a stateful MCP endpoint with sessions keyed by Mcp-Session-Id, as servers up to the 2025-11-25 revision run. */
function mountStatefulMcp(app: Express, proxy: OAuthProxy): void {
  const transports = new Map<string, StreamableHTTPServerTransport>();
  app.all("/stateful", proxy.bearer(), express.json(), (req: ExpressRequest, res: ExpressResponse) => {
    const sessionId = req.headers["mcp-session-id"];
    const existing = typeof sessionId === "string" ? transports.get(sessionId) : undefined;
    void (async () => {
      let transport = existing;
      if (transport === undefined) {
        const created: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
          sessionIdGenerator: () => randomUUID(),
          onsessioninitialized: (id) => {
            transports.set(id, created);
          },
        });
        await new McpServer({ name: "stateful-test", version: "1.0.0" }).connect(created);
        transport = created;
      }
      await transport.handleRequest(req, res, req.body);
    })().catch((error: unknown) => {
      res.status(500).json({ error: String(error) });
    });
  });
}

function callSide(path: string, authorization?: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<Response> {
  return fetch(`${side.url}${path}`, {
    method: init.method ?? "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json, text/event-stream",
      ...(authorization === undefined ? {} : { authorization }),
      ...init.headers,
    },
    ...(init.method === "GET" ? {} : { body: init.body ?? JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) }),
  });
}

// RFC 9110 §11.2 auth-param with a quoted-string value (§5.6.4).
const AUTH_PARAM = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)="((?:[^"\\]|\\.)*)"(?:, |$)/;

/** Parses a Bearer challenge strictly and returns its attributes, each of which may appear once. */
function parseChallenge(header: string | null): Record<string, string> {
  expect(header).toMatch(/^Bearer /);
  const attributes: Record<string, string> = {};
  let rest = (header ?? "").slice("Bearer ".length);
  while (rest !== "") {
    const match = AUTH_PARAM.exec(rest);
    expect(match, `unparsable challenge attributes: ${rest}`).not.toBeNull();
    if (match === null) {
      break;
    }
    const name = match[1] ?? "";
    expect(attributes[name], `${name} appears twice`).toBeUndefined();
    attributes[name] = (match[2] ?? "").replace(/\\(.)/g, "$1");
    rest = rest.slice(match[0].length);
  }
  return attributes;
}

async function expectChallenge(response: Response, status: number, error: string, metadataUrl = prmUrl): Promise<Record<string, string>> {
  const body = await response.json() as Record<string, unknown>;
  expect(response.status, JSON.stringify(body)).toBe(status);
  expect(response.headers.get("cache-control")).toBe("no-store");
  const challenge = parseChallenge(response.headers.get("www-authenticate"));
  expect(challenge.error).toBe(error);
  expect(challenge.resource_metadata).toBe(metadataUrl);
  expect(body.error).toBe(error);
  return challenge;
}

async function expectPassed(response: Response): Promise<Record<string, unknown>> {
  const text = await response.text();
  expect(response.status, text.slice(0, 300)).toBe(200);
  expect(response.headers.get("www-authenticate")).toBeNull();
  return text.startsWith("{") ? JSON.parse(text) as Record<string, unknown> : {};
}

async function tokensFor(scope: string, resource = harness.mcpUrl): Promise<{ clientId: string; tokens: TokenBody }> {
  const client = await harness.register();
  return { clientId: client.client_id, tokens: await harness.obtainTokens(client.client_id, { scope, resource }) };
}

function forge(claims: JwtPayload): string {
  const { signingKey, keyId } = deriveKeys(SECRET);
  return jsonwebtoken.sign(claims, signingKey, { algorithm: "HS256", header: { alg: "HS256", typ: "at+jwt", kid: keyId } });
}

describe("S67 audience is enforced and upstream tokens are rejected", () => {
  let valid: JwtPayload;

  beforeAll(async () => {
    const { tokens } = await tokensFor("mcp:read");
    valid = jsonwebtoken.decode(tokens.access_token) as JwtPayload;
  });

  function resigned(changes: Record<string, unknown>, drop: string[] = []): string {
    const now = Math.floor(Date.now() / 1000);
    const claims: JwtPayload = { ...valid, iat: now, exp: now + 600, ...changes };
    for (const name of drop) {
      delete claims[name];
    }
    return forge(claims);
  }

  it("accepts the re-signed token unchanged", async () => {
    await expectPassed(await harness.callMcp(`Bearer ${resigned({})}`));
  });

  it("rejects a token for another server's resource", async () => {
    await expectChallenge(await harness.callMcp(`Bearer ${resigned({ aud: "https://other.example.com/mcp" })}`), 401, "invalid_token");
  });

  it("rejects a token without aud", async () => {
    await expectChallenge(await harness.callMcp(`Bearer ${resigned({}, ["aud"])}`), 401, "invalid_token");
  });

  it("rejects a token whose aud is the resource with a trailing slash", async () => {
    await expectChallenge(await harness.callMcp(`Bearer ${resigned({ aud: `${harness.mcpUrl}/` })}`), 401, "invalid_token");
  });

  it("rejects the raw upstream access token", async () => {
    const { tokens } = await tokensFor("mcp:read");
    const { accessToken } = await expectPassed(await callSide("/upstream-token", `Bearer ${tokens.access_token}`)) as { accessToken: string };
    expect(accessToken).toBeTruthy();
    expect(accessToken).not.toBe(tokens.access_token);

    await expectChallenge(await harness.callMcp(`Bearer ${accessToken}`), 401, "invalid_token");
  });

  it("keeps tokens of two resources apart", async () => {
    const resourceB = `${harness.issuer}/mcp-b`;
    const prmB = `${harness.issuer}/.well-known/oauth-protected-resource/mcp-b`;
    const forA = (await tokensFor("mcp:read")).tokens.access_token;
    const forB = (await tokensFor("mcp:read", resourceB)).tokens.access_token;
    expect((jsonwebtoken.decode(forB) as JwtPayload).aud).toBe(resourceB);

    expect((await expectPassed(await callSide("/mcp-b", `Bearer ${forB}`))).resource).toBe(resourceB);
    await expectPassed(await harness.callMcp(`Bearer ${forA}`));
    await expectChallenge(await harness.callMcp(`Bearer ${forB}`), 401, "invalid_token");
    await expectChallenge(await callSide("/mcp-b", `Bearer ${forA}`), 401, "invalid_token", prmB);
  });
});

describe("S68 insufficient scope gets one 403 step-up challenge", () => {
  let readOnly: string;

  beforeAll(async () => {
    readOnly = (await tokensFor("mcp:read")).tokens.access_token;
  });

  it("names the missing scope with the granted ones", async () => {
    const challenge = await expectChallenge(await callSide("/write", `Bearer ${readOnly}`), 403, "insufficient_scope");
    expect(challenge.scope?.split(" ").sort()).toEqual(["mcp:read", "mcp:write"]);
    expect(challenge.error_description).toMatch(/mcp:write/);
  });

  it("names every scope the route needs in one challenge", async () => {
    const writeOnly = (await tokensFor("mcp:write")).tokens.access_token;
    const response = await callSide("/read-write", `Bearer ${writeOnly}`);
    expect(response.headers.get("www-authenticate")?.match(/Bearer/g)).toHaveLength(1);

    const challenge = await expectChallenge(response, 403, "insufficient_scope");
    expect(challenge.scope?.split(" ").sort()).toEqual(["mcp:read", "mcp:write"]);
  });

  it("passes a token that holds every needed scope", async () => {
    const both = (await tokensFor("mcp:read mcp:write")).tokens.access_token;
    expect((await expectPassed(await callSide("/read-write", `Bearer ${both}`))).scopes).toEqual(["mcp:read", "mcp:write"]);
  });

  it("lets a broader configured scope stand in for the narrower ones", async () => {
    const admin = (await tokensFor("mcp:admin")).tokens.access_token;

    // req.auth.scopes lists what was granted, not what the hierarchy implies.
    expect((await expectPassed(await callSide("/write", `Bearer ${admin}`))).scopes).toEqual(["mcp:admin"]);
    await expectPassed(await callSide("/read-write", `Bearer ${admin}`));
    await expectPassed(await harness.callMcp(`Bearer ${admin}`));
  });

  it("does not let narrower scopes stand in for the broader one", async () => {
    const both = (await tokensFor("mcp:read mcp:write")).tokens.access_token;
    const challenge = await expectChallenge(await callSide("/admin", `Bearer ${both}`), 403, "insufficient_scope");
    expect(challenge.scope?.split(" ").sort()).toEqual(["mcp:admin", "mcp:read", "mcp:write"]);
  });

  it("follows chains of included scopes", () => {
    const hierarchy = buildScopeHierarchy({ "mcp:admin": ["mcp:write"], "mcp:write": ["mcp:read"], "loop:a": ["loop:b"], "loop:b": ["loop:a"] });
    expect(expandScopes(["mcp:admin"], hierarchy).sort()).toEqual(["mcp:admin", "mcp:read", "mcp:write"]);
    expect(expandScopes(["mcp:write"], hierarchy).sort()).toEqual(["mcp:read", "mcp:write"]);
    expect(expandScopes(["mcp:read"], hierarchy)).toEqual(["mcp:read"]);
    expect(expandScopes(["loop:a"], hierarchy).sort()).toEqual(["loop:a", "loop:b"]);
  });

  const badHierarchies: Array<[string, unknown, RegExp]> = [
    ["an array", ["mcp:admin"], /scope to the scopes it includes/],
    ["a string value", { "mcp:admin": "mcp:read" }, /scope to the scopes it includes/],
    ["a scope with a space", { "mcp admin": ["mcp:read"] }, /scope to the scopes it includes/],
    ["a scope missing from scopes", { "mcp:admin": ["mcp:raed"] }, /also be listed in scopes/],
  ];
  for (const [name, scopeHierarchy, fix] of badHierarchies) {
    it(`rejects a scopeHierarchy with ${name}`, () => {
      const options = { baseUrl: "https://mcp.example.com", provider: idleProvider(), secret: SECRET, scopes: SCOPES, scopeHierarchy } as unknown as OAuthProxyOptions;
      expect(() => oauthProxy(options)).toThrow(OptionError);
      expect(() => oauthProxy(options)).toThrow(fix);
    });
  }
});

describe("S70 malformed credentials get 400 invalid_request", () => {
  let accessToken: string;

  beforeAll(async () => {
    accessToken = (await tokensFor("mcp:read")).tokens.access_token;
  });

  for (const authorization of ["Bearer", "Bearer ", "bearer  ", "Bearer a b", `Bearer ${"x".repeat(20)} ${"y".repeat(20)}`]) {
    it(`rejects Authorization: ${JSON.stringify(authorization)}`, async () => {
      await expectChallenge(await harness.callMcp(authorization), 400, "invalid_request");
    });
  }

  it("rejects a header and an access_token form field", async () => {
    const response = await fetch(harness.mcpUrl, {
      method: "POST",
      headers: { authorization: `Bearer ${accessToken}`, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ access_token: accessToken }).toString(),
    });
    await expectChallenge(response, 400, "invalid_request");
  });

  it("rejects a header and an access_token field parsed by the app", async () => {
    const response = await callSide("/parsed", `Bearer ${accessToken}`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ access_token: accessToken, other: "1" }).toString(),
    });
    await expectChallenge(response, 400, "invalid_request");
  });

  it("reads the form behind a JSON parser", async () => {
    const response = await callSide("/json-first", `Bearer ${accessToken}`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ access_token: accessToken }).toString(),
    });
    await expectChallenge(response, 400, "invalid_request");
  });

  it("rejects a header and an access_token query parameter", async () => {
    const url = `${harness.mcpUrl}?access_token=${encodeURIComponent(accessToken)}`;
    await expectChallenge(await harness.callMcp(`Bearer ${accessToken}`, { url }), 400, "invalid_request");
  });

  it("accepts a form body without access_token next to the header", async () => {
    const response = await callSide("/parsed", `Bearer ${accessToken}`, {
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "other=1",
    });
    await expectPassed(response);
  });

  for (const path of ["/parsed-after", "/parsed-after-4"]) {
    it(`leaves the form to a later parser at ${path}`, async () => {
      const response = await callSide(path, `Bearer ${accessToken}`, {
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "other=1&list=a",
      });
      expect((await expectPassed(response)).body).toEqual({ other: "1", list: "a" });
    });
  }

  it("treats a form field alone as no credentials", async () => {
    const response = await fetch(harness.mcpUrl, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ access_token: accessToken }).toString(),
    });
    expect(response.status).toBe(401);
    expect(parseChallenge(response.headers.get("www-authenticate"))).toEqual({ scope: "mcp:read", resource_metadata: prmUrl });
    await response.body?.cancel();
  });
});

describe("S71 every request is authenticated again", () => {
  async function initialize(accessToken: string): Promise<string> {
    const response = await callSide("/stateful", `Bearer ${accessToken}`, {
      body: JSON.stringify({
        jsonrpc: "2.0",
        id: 0,
        method: "initialize",
        params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "test", version: "1.0.0" } },
      }),
    });
    await response.body?.cancel();
    expect(response.status).toBe(200);
    const sessionId = response.headers.get("mcp-session-id");
    expect(sessionId).toBeTruthy();
    return sessionId ?? "";
  }

  function listTools(sessionId: string, authorization?: string): Promise<Response> {
    return callSide("/stateful", authorization, { headers: { "mcp-session-id": sessionId, "mcp-protocol-version": "2025-06-18" } });
  }

  it("challenges a request with a session id but no token", async () => {
    const { tokens } = await tokensFor("mcp:read");
    const sessionId = await initialize(tokens.access_token);
    await expectPassed(await listTools(sessionId, `Bearer ${tokens.access_token}`));

    const response = await listTools(sessionId);
    expect(response.status).toBe(401);
    expect(parseChallenge(response.headers.get("www-authenticate")).resource_metadata).toBe(prmUrl);
    await response.body?.cancel();
  });

  it("rejects a session id with an invalid token", async () => {
    const { tokens } = await tokensFor("mcp:read");
    const sessionId = await initialize(tokens.access_token);

    await expectChallenge(await listTools(sessionId, "Bearer garbage"), 401, "invalid_token");
  });

  it("rejects the session's token on the next request after revocation", async () => {
    const { clientId, tokens } = await tokensFor("mcp:read");
    const sessionId = await initialize(tokens.access_token);
    await expectPassed(await listTools(sessionId, `Bearer ${tokens.access_token}`));

    const revoked = await harness.revoke({ token: tokens.refresh_token, token_type_hint: "refresh_token", client_id: clientId });
    expect(revoked.status).toBe(200);
    await expectChallenge(await listTools(sessionId, `Bearer ${tokens.access_token}`), 401, "invalid_token");
    await expectChallenge(await harness.callMcp(`Bearer ${tokens.access_token}`), 401, "invalid_token");
  });

  describe("when the upstream grant dies", () => {
    let short: Harness;

    beforeAll(async () => {
      short = await Harness.start({ accessTokenTtl: 86_400, upstreamAccessTokenTtl: 60 });
    });

    afterAll(async () => {
      await short.close();
    });

    // NOTE: the proxy learns that an upstream grant ended when it next refreshes the upstream
    // access token, so the lag is at most the upstream access token's lifetime.
    it("rejects the token once the upstream access token needs a refresh", async () => {
      const client = await short.register();
      const tokens = await short.obtainTokens(client.client_id);
      expect((await short.callMcp(`Bearer ${tokens.access_token}`)).status).toBe(200);

      short.demo.upstream.revokeAll();
      vi.useFakeTimers({ toFake: ["Date"] });
      vi.setSystemTime(Date.now() + 120_000);

      const response = await short.callMcp(`Bearer ${tokens.access_token}`);
      expect(response.status).toBe(401);
      expect(parseChallenge(response.headers.get("www-authenticate")).error).toBe("invalid_token");
      await response.body?.cancel();
    });
  });
});

describe("S72 Origin is validated on the protected route", () => {
  let accessToken: string;

  beforeAll(async () => {
    accessToken = (await tokensFor("mcp:read")).tokens.access_token;
  });

  async function expectForbidden(response: Response): Promise<void> {
    expect(response.status).toBe(403);
    expect(response.headers.get("www-authenticate")).toBeNull();
    expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    const body = await response.json() as { jsonrpc?: string; error?: { message?: string }; id?: unknown };
    expect(body.jsonrpc).toBe("2.0");
    expect(body.id).toBeNull();
    expect(body.error?.message).toMatch(/Origin/);
  }

  for (const origin of ["https://evil.example", "null", "http://localhost.evil.example", "https://localhost:6274", "http://127.0.0.1.nip.io", "file://"]) {
    it(`answers 403 to a valid token from Origin ${origin}`, async () => {
      await expectForbidden(await harness.callMcp(`Bearer ${accessToken}`, { headers: { origin } }));
    });
  }

  it("answers 403 before looking at credentials", async () => {
    await expectForbidden(await harness.callMcp(undefined, { headers: { origin: "https://evil.example" } }));
    await expectForbidden(await harness.callMcp("Bearer garbage", { headers: { origin: "https://evil.example" } }));
  });

  it("accepts a request from the issuer's origin", async () => {
    await expectPassed(await harness.callMcp(`Bearer ${accessToken}`, { headers: { origin: harness.issuer } }));
  });

  for (const origin of ["http://localhost:6274", "http://127.0.0.1:9999", "http://[::1]:1234", "HTTP://LOCALHOST:6274"]) {
    it(`accepts a request from the loopback Origin ${origin}`, async () => {
      await expectPassed(await harness.callMcp(`Bearer ${accessToken}`, { headers: { origin } }));
    });
  }

  it("accepts a request without Origin", async () => {
    await expectPassed(await harness.callMcp(`Bearer ${accessToken}`));
  });

  it("passes a preflight from any Origin on to the next handler", async () => {
    const response = await fetch(`${side.url}/plain`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "POST" },
    });
    expect(response.status).toBe(204);
    expect(response.headers.get("x-reached")).toBe("handler");
  });

  describe("with allowedOrigins configured", () => {
    async function statusFrom(allowedOrigins: string[] | "*", origin: string): Promise<number> {
      const proxy = oauthProxy({ baseUrl: "https://mcp.example.com", provider: idleProvider(), secret: SECRET, allowedOrigins });
      const app = await startSideApp((sideApp) => sideApp.post("/mcp", proxy.bearer(), answerScopes));
      try {
        const response = await fetch(`${app.url}/mcp`, { method: "POST", headers: { origin } });
        await response.body?.cancel();
        return response.status;
      } finally {
        await app.close();
        await proxy.close();
      }
    }

    it("accepts only the listed origins", async () => {
      const allowed = ["https://app.example.com", "http://localhost:*"];
      expect(await statusFrom(allowed, "https://app.example.com")).toBe(401);
      expect(await statusFrom(allowed, "https://APP.example.com:443")).toBe(401);
      expect(await statusFrom(allowed, "http://localhost:1234")).toBe(401);
      expect(await statusFrom(allowed, "https://mcp.example.com")).toBe(403);
      expect(await statusFrom(allowed, "http://127.0.0.1:1234")).toBe(403);
      expect(await statusFrom(allowed, "https://app.example.com:8443")).toBe(403);
    });

    it("accepts every origin with \"*\"", async () => {
      expect(await statusFrom("*", "https://evil.example")).toBe(401);
      expect(await statusFrom("*", "null")).toBe(401);
    });

    for (const bad of [["https://app.example.com/path"], ["app.example.com"], ["https://*.example.com"], "all", [42]]) {
      it(`rejects allowedOrigins ${JSON.stringify(bad)}`, () => {
        const options = { baseUrl: "https://mcp.example.com", provider: idleProvider(), secret: SECRET, allowedOrigins: bad } as unknown as OAuthProxyOptions;
        expect(() => oauthProxy(options)).toThrow(OptionError);
      });
    }
  });
});

function idleProvider(): OAuthProvider {
  return new OAuthProvider({
    clientId: "proxy",
    clientSecret: "upstream-secret",
    authorizationEndpoint: "https://idp.example.com/authorize",
    tokenEndpoint: "https://idp.example.com/token",
  });
}
