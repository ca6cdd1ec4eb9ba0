import { randomBytes } from "node:crypto";
import { createServer, request } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { OIDCProvider, oauthProxy } from "mcp-oauth-proxy";
import type { OAuthProxy } from "mcp-oauth-proxy";
import { Harness } from "../helpers/harness.js";

const PRM_PATH = "/.well-known/oauth-protected-resource/mcp";
const AS_METADATA_PATH = "/.well-known/oauth-authorization-server";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

async function getJson(url: string, headers: Record<string, string> = {}): Promise<{ response: Response; body: Record<string, unknown> }> {
  const response = await fetch(url, { headers });
  return { response, body: await response.json() as Record<string, unknown> };
}

/** Sends a GET with a chosen Host header, which Node's fetch replaces with the URL's host. */
function getWithHost(url: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = request(url, { headers }, (response) => {
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => {
        body += chunk;
      });
      response.on("end", () => resolve({ status: response.statusCode ?? 0, body }));
    });
    outgoing.on("error", reject);
    outgoing.end();
  });
}

/** Names of the members whose value is an empty array, which RFC 8414 §2 and RFC 9728 §2 forbid. */
function emptyMembers(document: Record<string, unknown>): string[] {
  return Object.entries(document)
    .filter(([, value]) => Array.isArray(value) && value.length === 0)
    .map(([name]) => name);
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Starts a bare app with only the proxy mounted, for configurations the demo does not use. */
async function startBareProxy(options: { path?: string; resource?: string[] }): Promise<{ baseUrl: string; proxy: OAuthProxy; stop: () => Promise<void> }> {
  const server = createServer();
  const origin = await listen(server);
  const baseUrl = origin + (options.path ?? "");
  const proxy = oauthProxy({
    baseUrl,
    provider: new OIDCProvider({
      name: "Unused upstream",
      issuer: harness.demo.upstream.issuer,
      clientId: "unused-client",
      clientSecret: "unused-secret",
    }),
    secret: randomBytes(32).toString("base64url"),
    ...(options.resource === undefined ? {} : { resource: options.resource }),
  });
  const app = express();
  app.use(proxy);
  server.on("request", app);
  return {
    baseUrl,
    proxy,
    stop: async () => {
      await close(server);
      await proxy.close();
    },
  };
}

describe("S01 protected resource metadata is public JSON", () => {
  const cases: Array<[string, Record<string, string>]> = [
    ["no headers", {}],
    ["MCP-Protocol-Version 2025-06-18", { "mcp-protocol-version": "2025-06-18" }],
  ];

  for (const [name, headers] of cases) {
    it(`serves the document without credentials (${name})`, async () => {
      const { response, body } = await getJson(harness.issuer + PRM_PATH, headers);

      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
      expect(response.headers.get("www-authenticate")).toBeNull();
      expect(typeof body).toBe("object");
      expect(Array.isArray(body)).toBe(false);
    });
  }
});

describe("S02 resource is the MCP endpoint URL", () => {
  it("names the exact URL clients send MCP requests to", async () => {
    const { body } = await getJson(harness.issuer + PRM_PATH);

    expect(body.resource).toBe(harness.mcpUrl);
    expect(body.resource).toBe(`${harness.issuer}/mcp`);
    expect(String(body.resource)).not.toMatch(/[/#]$/);
  });
});

describe("S03 authorization_servers lists the issuer", () => {
  it("lists exactly the proxy's issuer identifier", async () => {
    const { body } = await getJson(harness.issuer + PRM_PATH);

    expect(body.authorization_servers).toEqual([harness.issuer]);
  });

  it("serves RFC 8414 metadata for every listed issuer", async () => {
    const { body } = await getJson(harness.issuer + PRM_PATH);
    const servers = body.authorization_servers as string[];

    for (const issuer of servers) {
      const url = new URL(issuer);
      const path = url.pathname === "/" ? "" : url.pathname;
      const metadata = await getJson(`${url.origin}${AS_METADATA_PATH}${path}`);
      expect(metadata.response.status).toBe(200);
      expect(metadata.body.issuer).toBe(issuer);
    }
  });
});

describe("S04 protected resource metadata members", () => {
  it("lists the minimal scopes without offline_access", async () => {
    const { body } = await getJson(harness.issuer + PRM_PATH);

    expect(Array.isArray(body.scopes_supported)).toBe(true);
    expect((body.scopes_supported as string[]).length).toBeGreaterThan(0);
    expect(body.scopes_supported).not.toContain("offline_access");
  });

  it("omits empty members and allows only header bearer tokens", async () => {
    const { body } = await getJson(harness.issuer + PRM_PATH);

    expect(emptyMembers(body)).toEqual([]);
    expect(body.bearer_methods_supported).toEqual(["header"]);
  });

  it("publishes the configured resource_name", async () => {
    const { body } = await getJson(harness.issuer + PRM_PATH);

    expect(body.resource_name).toBe("Demo MCP server");
  });
});

describe("S05 root protected resource metadata", () => {
  // With exactly one resource, the package serves the root document with the origin as its resource (RFC 9728 §3.3).
  it("names the origin with one resource", async () => {
    const { response, body } = await getJson(`${harness.issuer}/.well-known/oauth-protected-resource`);

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
    expect(body.resource).toBe(harness.issuer);
    expect(body.authorization_servers).toEqual([harness.issuer]);
  });

  it("accepts the origin as an alias of the resource at /authorize", async () => {
    const client = await harness.register();
    const response = await fetch(harness.authorizeUrl(client.client_id, { resource: harness.issuer }), { redirect: "manual" });

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/html/);
    expect(response.headers.get("location")).toBeNull();
  });

  it("keeps aud canonical for the origin alias", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { resource: harness.issuer });
    const payload = JSON.parse(Buffer.from(tokens.access_token.split(".")[1] ?? "", "base64url").toString("utf8")) as Record<string, unknown>;

    expect(payload.aud).toBe(harness.mcpUrl);
  });

  it("returns 404 with several resources", async () => {
    const bare = await startBareProxy({ resource: ["/mcp-a", "/mcp-b"] });
    try {
      const response = await fetch(`${bare.baseUrl}/.well-known/oauth-protected-resource`);
      expect(response.status).toBe(404);
    } finally {
      await bare.stop();
    }
  });
});

describe("S06 authorization server metadata location", () => {
  it("serves JSON at the root well-known URL", async () => {
    const { response, body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
    expect(emptyMembers(body)).toEqual([]);
  });

  it("inserts an issuer path after the well-known segment", async () => {
    const bare = await startBareProxy({ path: "/oauth" });
    try {
      const origin = new URL(bare.baseUrl).origin;
      const inserted = await getJson(`${origin}${AS_METADATA_PATH}/oauth`);
      expect(inserted.response.status).toBe(200);
      expect(inserted.body.issuer).toBe(`${origin}/oauth`);

      const appended = await fetch(`${origin}/oauth${AS_METADATA_PATH}`);
      expect(appended.status).toBe(404);
    } finally {
      await bare.stop();
    }
  });

  it("drops a trailing slash from the issuer", async () => {
    const bare = await startBareProxy({ path: "/oauth/" });
    try {
      const origin = new URL(bare.baseUrl).origin;
      expect(bare.proxy.metadata.issuer).toBe(`${origin}/oauth`);

      const inserted = await getJson(`${origin}${AS_METADATA_PATH}/oauth`);
      expect(inserted.response.status).toBe(200);
      expect(inserted.body.issuer).toBe(`${origin}/oauth`);
    } finally {
      await bare.stop();
    }
  });
});

describe("S07 issuer is the configured base URL", () => {
  it("is the exact issuer without a trailing slash", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(body.issuer).toBe(harness.issuer);
    expect(String(body.issuer)).not.toMatch(/\/$|[?#]/);
  });

  const spoofed: Array<[string, Record<string, string>]> = [
    ["Host", { host: "evil.example" }],
    ["X-Forwarded-Host", { "x-forwarded-host": "evil.example", "x-forwarded-proto": "https" }],
  ];

  for (const [name, headers] of spoofed) {
    it(`ignores a spoofed ${name} header`, async () => {
      const expected = await getJson(harness.issuer + AS_METADATA_PATH);
      const response = await getWithHost(harness.issuer + AS_METADATA_PATH, headers);

      expect(response.status).toBe(200);
      expect(JSON.parse(response.body)).toEqual(expected.body);
      expect(response.body).not.toContain("evil.example");
    });
  }

  it("keeps resource metadata under a spoofed Host", async () => {
    const expected = await getJson(harness.issuer + PRM_PATH);
    const response = await getWithHost(harness.issuer + PRM_PATH, { host: "evil.example" });

    expect(response.status).toBe(200);
    expect(JSON.parse(response.body)).toEqual(expected.body);
  });
});

describe("S08 required authorization server metadata", () => {
  it("lists endpoints and the code response type", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    // The package serves its endpoints under /oauth/ on the issuer.
    expect(body.authorization_endpoint).toBe(`${harness.issuer}/oauth/authorize`);
    expect(body.token_endpoint).toBe(`${harness.issuer}/oauth/token`);
    expect(body.response_types_supported).toEqual(["code"]);
  });
});

describe("S09 PKCE support is discoverable", () => {
  it("lists S256 as the only code challenge method", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(body.code_challenge_methods_supported).toEqual(["S256"]);
  });

  it("does not serve an OpenID configuration next to it", async () => {
    const response = await fetch(`${harness.issuer}/.well-known/openid-configuration`);

    expect(response.status).toBe(404);
  });
});

describe("S10 capabilities are listed explicitly", () => {
  it("lists grant types and client authentication methods", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(body.grant_types_supported).toEqual(["authorization_code", "refresh_token"]);
    expect(body.token_endpoint_auth_methods_supported).toEqual(["none", "client_secret_basic", "client_secret_post"]);
  });

  it("lists the registration and revocation endpoints", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    // Dynamic client registration is always enabled in this package.
    expect(body.registration_endpoint).toBe(`${harness.issuer}/oauth/register`);
    expect(body.revocation_endpoint).toBe(`${harness.issuer}/oauth/revoke`);
    expect(body.revocation_endpoint_auth_methods_supported).toEqual(["none", "client_secret_basic", "client_secret_post"]);
  });

  it("omits introspection without callers and limits response modes to query", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(body).not.toHaveProperty("introspection_endpoint");
    expect(body.response_modes_supported).toEqual(["query"]);
  });
});

describe("S11 feature flags match what is implemented", () => {
  it("advertises the iss authorization response parameter", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(body.authorization_response_iss_parameter_supported).toBe(true);
  });

  it("advertises client ID metadata documents, which are on by default", async () => {
    const { body } = await getJson(harness.issuer + AS_METADATA_PATH);

    expect(body.client_id_metadata_document_supported).toBe(true);
  });

  // An http client_id fails the URL check before any lookup or fetch. Metadata
  // documents themselves are tested against a local https server in cimd.test.ts.
  it("shows an error page for an http URL client_id", async () => {
    let fetches = 0;
    const documentServer = createServer((_req, res) => {
      fetches += 1;
      res.writeHead(200, { "content-type": "application/json" });
      res.end("{}");
    });
    const documentOrigin = await listen(documentServer);
    try {
      const clientIds = [`${documentOrigin}/client.json`, "http://app.example.com/client.json"];
      for (const clientId of clientIds) {
        const upstreamBefore = harness.upstreamRequests.length;
        const response = await fetch(harness.authorizeUrl(clientId), { redirect: "manual" });

        expect(response.status).toBe(400);
        expect(response.headers.get("content-type")).toMatch(/^text\/html/);
        expect(response.headers.get("location")).toBeNull();
        expect(harness.upstreamRequests.length).toBe(upstreamBefore);
      }
      expect(fetches).toBe(0);
    } finally {
      await close(documentServer);
    }
  });
});
