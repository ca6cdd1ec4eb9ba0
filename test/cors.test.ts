import { createServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import express from "express";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser, parseForm } from "../examples/demo/browser.js";
import { Harness } from "./helpers/harness.js";
import type { RegisteredClient } from "./helpers/harness.js";

const ORIGIN = "https://inspector.example";

let harness: Harness;
let client: RegisteredClient;

beforeAll(async () => {
  // A browser-based client on another origin, such as a hosted MCP Inspector, must be allowed explicitly.
  harness = await Harness.start({ proxyOptions: { allowedOrigins: [ORIGIN] } });
  client = await harness.register();
});

afterAll(async () => {
  await harness.close();
});

function preflight(url: string, method: string, headers = "authorization, content-type, mcp-protocol-version"): Promise<Response> {
  return fetch(url, {
    method: "OPTIONS",
    headers: { origin: ORIGIN, "access-control-request-method": method, "access-control-request-headers": headers },
  });
}

function listHeader(response: Response, name: string): string[] {
  return (response.headers.get(name) ?? "").split(",").map((item) => item.trim().toLowerCase()).filter((item) => item !== "");
}

/** The endpoints browser-based clients call directly, with the method they use. */
function apiEndpoints(): Array<[string, string, string]> {
  return [
    ["authorization server metadata", `${harness.baseUrl}/.well-known/oauth-authorization-server`, "GET"],
    ["protected resource metadata", `${harness.baseUrl}/.well-known/oauth-protected-resource/mcp`, "GET"],
    ["root protected resource metadata", `${harness.baseUrl}/.well-known/oauth-protected-resource`, "GET"],
    ["registration", harness.metadata.registration_endpoint as string, "POST"],
    ["token", harness.metadata.token_endpoint as string, "POST"],
    ["revocation", harness.metadata.revocation_endpoint as string, "POST"],
  ];
}

describe("CORS preflight on API endpoints", () => {
  it("allows any origin without credentials", async () => {
    for (const [name, url, method] of apiEndpoints()) {
      const response = await preflight(url, method);
      expect(response.status, name).toBe(204);
      expect(response.headers.get("access-control-allow-origin"), name).toBe("*");
      expect(response.headers.get("access-control-allow-credentials"), name).toBeNull();
      expect(listHeader(response, "access-control-allow-methods"), name).toContain(method.toLowerCase());
      expect(response.headers.get("access-control-max-age"), name).toBe("600");
    }
  });

  it("allows the MCP-Protocol-Version, Authorization and Content-Type headers", async () => {
    for (const [name, url, method] of apiEndpoints()) {
      const allowed = listHeader(await preflight(url, method), "access-control-allow-headers");
      expect(allowed, name).toEqual(expect.arrayContaining(["mcp-protocol-version", "authorization", "content-type"]));
    }
  });
});

describe("CORS on API responses", () => {
  it("serves metadata to any origin", async () => {
    const response = await fetch(`${harness.baseUrl}/.well-known/oauth-authorization-server`, {
      headers: { origin: ORIGIN, "mcp-protocol-version": "2025-06-18" },
    });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("accepts registration from any origin", async () => {
    const response = await harness.postJson(harness.metadata.registration_endpoint as string, {
      redirect_uris: ["http://127.0.0.1:3000/callback"],
      token_endpoint_auth_method: "none",
    }, { origin: ORIGIN });
    expect(response.status).toBe(201);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("sends no credentials header even with a cookie", async () => {
    const response = await harness.revoke({ token: "garbage", client_id: client.client_id }, { origin: ORIGIN, cookie: "session=abc" });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("exposes the Basic challenge of a token 401", async () => {
    const credentials = Buffer.from("unknown-client:secret").toString("base64");
    const response = await harness.token({ grant_type: "refresh_token", refresh_token: "x" }, { origin: ORIGIN, authorization: `Basic ${credentials}` });
    expect(response.status).toBe(401);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
    expect(listHeader(response, "access-control-expose-headers")).toContain("www-authenticate");
  });

  it("sends CORS headers on a 405", async () => {
    const response = await fetch(harness.metadata.token_endpoint as string, { method: "PUT", headers: { origin: ORIGIN } });
    expect(response.status).toBe(405);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
  });
});

describe("no CORS on browser pages", () => {
  it("sends no CORS headers from /authorize, /consent or /callback", async () => {
    const pages: Array<[string, RequestInit & { url: string }]> = [
      ["GET /authorize", { url: harness.authorizeUrl(client.client_id).href }],
      ["OPTIONS /authorize", { url: harness.authorizeUrl(client.client_id).href, method: "OPTIONS", headers: { "access-control-request-method": "GET" } }],
      ["POST /consent", { url: `${harness.baseUrl}/oauth/consent`, method: "POST", body: "transaction=x&csrf_token=y&decision=approve", headers: { "content-type": "application/x-www-form-urlencoded" } }],
      ["OPTIONS /consent", { url: `${harness.baseUrl}/oauth/consent`, method: "OPTIONS", headers: { "access-control-request-method": "POST" } }],
      ["GET /callback", { url: `${harness.baseUrl}/oauth/callback?state=x&code=y` }],
      ["OPTIONS /callback", { url: `${harness.baseUrl}/oauth/callback`, method: "OPTIONS", headers: { "access-control-request-method": "GET" } }],
    ];

    for (const [name, { url, ...init }] of pages) {
      const response = await fetch(url, { ...init, redirect: "manual", headers: { origin: ORIGIN, ...init.headers as Record<string, string> } });
      expect(response.status, name).toBeLessThan(500);
      expect(response.headers.get("access-control-allow-origin"), name).toBeNull();
      expect(response.headers.get("access-control-allow-credentials"), name).toBeNull();
    }
  });

  it("rejects a consent approval posted from another origin", async () => {
    const browser = new TestBrowser();
    const page = await browser.get(harness.authorizeUrl(client.client_id));
    const form = parseForm(page.body, { buttonValue: "approve" });
    const response = await browser.postForm(new URL(form.action, harness.baseUrl), form.fields, { origin: ORIGIN });

    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("CORS on the protected MCP route", () => {
  it("handles a preflight before bearer()", async () => {
    const before = harness.upstreamRequests.length;
    const response = await preflight(harness.mcpUrl, "POST");

    expect(response.status).toBe(204);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("www-authenticate")).toBeNull();
    expect(harness.upstreamRequests.length).toBe(before);
  });

  it("exposes WWW-Authenticate on a 401", async () => {
    const response = await harness.callMcp(undefined, { headers: { origin: ORIGIN } });

    expect(response.status).toBe(401);
    expect(response.headers.get("access-control-allow-origin")).toBe("*");
    expect(response.headers.get("www-authenticate")).toContain("resource_metadata=");
    expect(listHeader(response, "access-control-expose-headers")).toContain("www-authenticate");
  });

  it("exposes WWW-Authenticate on a 401 for a garbage token", async () => {
    const response = await harness.callMcp("Bearer garbage", { headers: { origin: ORIGIN } });

    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain('error="invalid_token"');
    expect(listHeader(response, "access-control-expose-headers")).toContain("www-authenticate");
  });
});

describe("bearer() and OPTIONS", () => {
  let server: Server;
  let url: string;

  beforeAll(async () => {
    // No CORS middleware in front: bearer() itself must let the preflight through.
    const app = express();
    app.options("/guarded", harness.demo.proxy.bearer(), (_req, res) => {
      res.setHeader("x-reached", "handler");
      res.status(204).end();
    });
    app.post("/guarded", harness.demo.proxy.bearer(), (_req, res) => {
      res.status(200).end();
    });
    server = createServer(app);
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/guarded`;
  });

  afterAll(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it("passes OPTIONS on without a challenge", async () => {
    const response = await preflight(url, "POST");
    expect(response.status).toBe(204);
    expect(response.headers.get("x-reached")).toBe("handler");
    expect(response.headers.get("www-authenticate")).toBeNull();
  });

  it("still challenges POST on the same route", async () => {
    const response = await fetch(url, { method: "POST" });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toMatch(/^Bearer /);
  });
});
