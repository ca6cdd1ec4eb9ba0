import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { MemoryStore } from "mcp-oauth-proxy";
import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { RegisteredClient } from "../helpers/harness.js";

/** A real in-memory store that also lists the keys written with set() or add(). */
class RecordingStore extends MemoryStore {
  readonly written: string[] = [];

  override async set(key: string, value: unknown, ttlSeconds?: number): Promise<void> {
    this.written.push(key);
    await super.set(key, value, ttlSeconds);
  }

  override async add(key: string, value: unknown, ttlSeconds: number): Promise<boolean> {
    this.written.push(key);
    return super.add(key, value, ttlSeconds);
  }
}

const storage = new RecordingStore();
let harness: Harness;
let publicClient: RegisteredClient;
let confidentialClient: RegisteredClient;

beforeAll(async () => {
  // This file sends more registrations than the default limit allows; rate limits have their own tests.
  harness = await Harness.start({ storage, proxyOptions: { rateLimits: { register: { limit: 1000 } } } });
  publicClient = await harness.register();
  confidentialClient = await harness.register({ token_endpoint_auth_method: "client_secret_basic", redirect_uris: ["https://app.example.com/cb"] });
});

afterAll(async () => {
  await harness.close();
});

function basic(clientId: string, secret: string): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString("base64")}`;
}

async function authorize(url: URL, headers: Record<string, string> = {}): Promise<{ response: Response; body: string; upstreamRequests: number }> {
  const before = harness.upstreamRequests.length;
  const response = await fetch(url, { redirect: "manual", headers });
  const body = await response.text();
  return { response, body, upstreamRequests: harness.upstreamRequests.length - before };
}

/** Asserts ERRPAGE: a 400 HTML page, no Location, nothing sent upstream. */
async function expectErrorPage(url: URL): Promise<string> {
  const { response, body, upstreamRequests } = await authorize(url);
  expect(response.status).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
  expect(response.headers.get("location")).toBeNull();
  expect(upstreamRequests).toBe(0);
  return body;
}

/** Asserts ERRREDIR(error): a 302 to the client with error, state xyz and iss, and no code. */
async function expectErrorRedirect(url: URL, error: string): Promise<void> {
  const { response, upstreamRequests } = await authorize(url);
  expect(response.status).toBe(302);
  expect(upstreamRequests).toBe(0);

  const location = new URL(response.headers.get("location") ?? "");
  expect(`${location.origin}${location.pathname}`).toBe(REDIRECT_URI);
  expect(location.searchParams.getAll("error")).toEqual([error]);
  expect(location.searchParams.getAll("state")).toEqual(["xyz"]);
  expect(location.searchParams.getAll("iss")).toEqual([harness.issuer]);
  expect(location.searchParams.has("code")).toBe(false);
}

/** Asserts TOKERR(error, status): JSON, no-store, and the error code. */
async function expectTokenError(response: Response, error: string, status = 400): Promise<Record<string, unknown>> {
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  const body = await response.json() as Record<string, unknown>;
  expect(body.error).toBe(error);
  return body;
}

function withParam(url: URL, name: string, value: string): URL {
  url.searchParams.append(name, value);
  return url;
}

describe("S31 parameter hygiene and no CORS at /authorize", () => {
  it("redirects a repeated code_challenge with invalid_request", async () => {
    const url = withParam(harness.authorizeUrl(publicClient.client_id), "code_challenge", "B".repeat(43));
    await expectErrorRedirect(url, "invalid_request");
  });

  it("redirects a repeated response_type with invalid_request", async () => {
    const url = withParam(harness.authorizeUrl(publicClient.client_id), "response_type", "code");
    await expectErrorRedirect(url, "invalid_request");
  });

  it("shows an error page for a repeated client_id", async () => {
    await expectErrorPage(withParam(harness.authorizeUrl(publicClient.client_id), "client_id", publicClient.client_id));
    await expectErrorPage(withParam(harness.authorizeUrl(publicClient.client_id), "client_id", confidentialClient.client_id));
  });

  it("shows an error page for a repeated redirect_uri", async () => {
    await expectErrorPage(withParam(harness.authorizeUrl(publicClient.client_id), "redirect_uri", REDIRECT_URI));
  });

  it("ignores an unknown parameter", async () => {
    const { response, body } = await authorize(withParam(harness.authorizeUrl(publicClient.client_id), "foo", "bar"));
    expect(response.status).toBe(200);
    expect(body).toContain('name="csrf_token"');
  });

  it("treats an empty scope as omitted", async () => {
    const { response, body } = await authorize(harness.authorizeUrl(publicClient.client_id, { scope: "" }));
    expect(response.status).toBe(200);
    expect(body).toContain("<code>mcp:read</code>");
    expect(body).not.toContain("<code>mcp:write</code>");
  });

  it("sends no CORS headers on GET /authorize", async () => {
    const { response } = await authorize(harness.authorizeUrl(publicClient.client_id), { origin: "https://evil.example" });
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-credentials")).toBeNull();
  });

  it("sends no CORS headers on an OPTIONS preflight to /authorize", async () => {
    const response = await fetch(harness.authorizeUrl(publicClient.client_id), {
      method: "OPTIONS",
      headers: { origin: "https://evil.example", "access-control-request-method": "GET" },
    });
    expect(response.status).toBeLessThan(500);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(response.headers.get("access-control-allow-methods")).toBeNull();
  });
});

describe("S54 token request hygiene and grant-type errors", () => {
  const tokenUrl = (): string => harness.metadata.token_endpoint as string;

  it("rejects a missing grant_type with invalid_request", async () => {
    await expectTokenError(await harness.token({ client_id: publicClient.client_id, code: "x" }), "invalid_request");
  });

  for (const grantType of ["password", "implicit", "urn:ietf:params:oauth:grant-type:device_code", "urn:example:unknown"]) {
    it(`rejects grant_type=${grantType} with unsupported_grant_type`, async () => {
      await expectTokenError(await harness.token({ grant_type: grantType, client_id: publicClient.client_id }), "unsupported_grant_type");
    });
  }

  it("rejects client_credentials from a public client with unauthorized_client", async () => {
    await expectTokenError(await harness.token({ grant_type: "client_credentials", client_id: publicClient.client_id }), "unauthorized_client");
  });

  it("rejects a repeated code with invalid_request", async () => {
    const body = `grant_type=authorization_code&code=first&code=second&code_verifier=${VERIFIER}&client_id=${encodeURIComponent(publicClient.client_id)}`;
    await expectTokenError(await harness.token(body), "invalid_request");
  });

  it("rejects a repeated grant_type with invalid_request", async () => {
    const body = `grant_type=authorization_code&grant_type=refresh_token&client_id=${encodeURIComponent(publicClient.client_id)}`;
    await expectTokenError(await harness.token(body), "invalid_request");
  });

  it("ignores an unknown parameter", async () => {
    const { code } = await harness.signIn(publicClient.client_id);
    const response = await harness.token({
      grant_type: "authorization_code",
      code,
      code_verifier: VERIFIER,
      client_id: publicClient.client_id,
      redirect_uri: REDIRECT_URI,
      foo: "bar",
    });
    expect(response.status).toBe(200);
    expect((await response.json() as Record<string, unknown>).token_type).toBe("Bearer");
  });

  it("rejects a JSON body with invalid_request", async () => {
    const response = await harness.postJson(tokenUrl(), { grant_type: "authorization_code", code: "x", client_id: publicClient.client_id });
    await expectTokenError(response, "invalid_request");
  });

  it("rejects GET with 405", async () => {
    const response = await fetch(tokenUrl());
    await expectTokenError(response, "invalid_request", 405);
    expect(response.headers.get("allow")).toBe("POST, OPTIONS");
  });
});

describe("unknown client_id is invalid_client or an error page", () => {
  const unknownIds = (): Array<[string, string]> => {
    const real = publicClient.client_id;
    // A middle character: the last base64url character may carry only padding bits.
    const middle = Math.floor(real.length / 2);
    const tampered = real.slice(0, middle) + (real[middle] === "A" ? "B" : "A") + real.slice(middle + 1);
    return [
      ["a made-up id", "nope"],
      ["a tampered sealed id", tampered],
      ["a truncated sealed id", real.slice(0, 20)],
      ["an id of 5000 characters", "x".repeat(5000)],
      ["an id with a dot only", "."],
      ["an id with a NUL byte", "nope\u0000"],
      ["a URL on a closed loopback port", "https://127.0.0.1:1/client.json"],
    ];
  };

  it("returns invalid_client JSON at /token", async () => {
    for (const [name, clientId] of unknownIds()) {
      const response = await harness.token({ grant_type: "authorization_code", code: "x", code_verifier: VERIFIER, client_id: clientId });
      expect(response.status, name).toBe(401);
      expect((await expectTokenError(response, "invalid_client", 401)).error_description, name).toBeTypeOf("string");
    }
  });

  it("challenges unknown Basic credentials at /token", async () => {
    for (const [name, clientId] of unknownIds()) {
      const response = await harness.token({ grant_type: "refresh_token", refresh_token: "x" }, { authorization: basic(clientId, "secret") });
      expect(response.status, name).toBe(401);
      expect(response.headers.get("www-authenticate"), name).toMatch(/^Basic realm="/);
      await expectTokenError(response, "invalid_client", 401);
    }
  });

  it("returns invalid_client JSON at /revoke", async () => {
    for (const [name, clientId] of unknownIds()) {
      const response = await harness.revoke({ token: "x", client_id: clientId });
      expect(response.status, name).toBe(401);
      await expectTokenError(response, "invalid_client", 401);
    }
  });

  it("shows an error page at /authorize", async () => {
    for (const [, clientId] of unknownIds()) {
      const body = await expectErrorPage(harness.authorizeUrl(clientId));
      expect(body).toContain("<h1>");
    }
  });

  it("never returns 422 or 5xx", async () => {
    const responses = await Promise.all(unknownIds().flatMap(([, clientId]) => [
      harness.token({ grant_type: "authorization_code", code: "x", client_id: clientId }),
      harness.revoke({ token: "x", client_id: clientId }),
      fetch(harness.authorizeUrl(clientId), { redirect: "manual" }),
    ]));
    for (const response of responses) {
      expect(response.status).not.toBe(422);
      expect(response.status).toBeLessThan(500);
    }
  });
});

describe("oversized bodies get 413", () => {
  const oversized = `token=${"a".repeat(40 * 1024)}&client_id=x`;

  for (const endpoint of ["token", "revoke"] as const) {
    it(`rejects an oversized ${endpoint} request with JSON`, async () => {
      const response = endpoint === "token" ? await harness.token(oversized) : await harness.revoke(oversized);
      const body = await expectTokenError(response, "invalid_request", 413);
      expect(body.error_description).toBe("The request body is too large");
    });
  }

  it("rejects an oversized consent form with a page", async () => {
    const response = await harness.postForm(`${harness.baseUrl}/oauth/consent`, oversized);
    expect(response.status).toBe(413);
    expect(response.headers.get("content-type")).toMatch(/^text\/html\b/);
    expect(await response.text()).toContain("The request body is too large");
  });

  it("rejects a form of 65 fields", async () => {
    const fields = Array.from({ length: 65 }, (_, index) => `f${index}=1`).join("&");
    await expectTokenError(await harness.token(fields), "invalid_request", 413);
  });
});

describe("registration of oversized or mistyped metadata", () => {
  const registrationUrl = (): string => harness.metadata.registration_endpoint as string;

  /** Sends a raw registration body and returns the response, the elapsed milliseconds and the keys written meanwhile. */
  async function registerRaw(body: string, contentType = "application/json"): Promise<{ response: Response; body: Record<string, unknown>; elapsed: number; written: string[] }> {
    const before = storage.written.length;
    const started = performance.now();
    const response = await fetch(registrationUrl(), { method: "POST", headers: { "content-type": contentType }, body });
    const parsed = await response.json() as Record<string, unknown>;
    return { response, body: parsed, elapsed: performance.now() - started, written: storage.written.slice(before) };
  }

  const base = { redirect_uris: [REDIRECT_URI], token_endpoint_auth_method: "none" };

  it("rejects a 2 MB client_name fast with 413 and stores nothing", async () => {
    const result = await registerRaw(JSON.stringify({ ...base, client_name: "A".repeat(2 * 1024 * 1024) }));
    expect(result.response.status).toBe(413);
    expect(result.body.error).toBe("invalid_client_metadata");
    expect(result.body.error_description).toBe("The request body is too large");
    expect(result.elapsed).toBeLessThan(1000);
    expect(result.written).toEqual([]);
  });

  it("rejects 1,000 redirect URIs fast with 400 and stores nothing", async () => {
    const redirectUris = Array.from({ length: 1000 }, (_, index) => `http://127.0.0.1:${3000 + index}/cb`);
    const result = await registerRaw(JSON.stringify({ ...base, redirect_uris: redirectUris }));
    expect(result.response.status).toBe(400);
    expect(result.body.error).toBe("invalid_redirect_uri");
    expect(result.elapsed).toBeLessThan(1000);
    expect(result.written).toEqual([]);
  });

  it("rejects 1,000 long redirect URIs fast with 413 and stores nothing", async () => {
    const redirectUris = Array.from({ length: 1000 }, (_, index) => `https://app.example.com/${"p".repeat(100)}/${index}`);
    const result = await registerRaw(JSON.stringify({ ...base, redirect_uris: redirectUris }));
    expect(result.response.status).toBe(413);
    expect(result.body.error).toBe("invalid_client_metadata");
    expect(result.elapsed).toBeLessThan(1000);
    expect(result.written).toEqual([]);
  });

  const mistyped: Array<[string, unknown, string]> = [
    ["redirect_uris as a string", { ...base, redirect_uris: REDIRECT_URI }, "invalid_redirect_uri"],
    ["redirect_uris as a number", { ...base, redirect_uris: 42 }, "invalid_redirect_uri"],
    ["redirect_uris as an object", { ...base, redirect_uris: { 0: REDIRECT_URI } }, "invalid_redirect_uri"],
    ["redirect_uris of numbers", { ...base, redirect_uris: [1, 2] }, "invalid_redirect_uri"],
    ["redirect_uris of arrays", { ...base, redirect_uris: [[REDIRECT_URI]] }, "invalid_redirect_uri"],
    ["redirect_uris null", { ...base, redirect_uris: null }, "invalid_redirect_uri"],
    ["client_name as a number", { ...base, client_name: 7 }, "invalid_client_metadata"],
    ["client_name as an object", { ...base, client_name: { en: "x" } }, "invalid_client_metadata"],
    ["client_name as an array", { ...base, client_name: ["x"] }, "invalid_client_metadata"],
    ["client_name of 201 characters", { ...base, client_name: "n".repeat(201) }, "invalid_client_metadata"],
    ["token_endpoint_auth_method as a number", { ...base, token_endpoint_auth_method: 1 }, "invalid_client_metadata"],
    ["grant_types as a string", { ...base, grant_types: "authorization_code" }, "invalid_client_metadata"],
    ["grant_types of numbers", { ...base, grant_types: [1] }, "invalid_client_metadata"],
    ["response_types as a string", { ...base, response_types: "code" }, "invalid_client_metadata"],
    ["scope as an array", { ...base, scope: ["mcp:read"] }, "invalid_client_metadata"],
    ["contacts as a string", { ...base, contacts: "a@example.com" }, "invalid_client_metadata"],
    ["logo_uri as a number", { ...base, logo_uri: 5 }, "invalid_client_metadata"],
    ["a JSON array", [base], "invalid_client_metadata"],
    ["a JSON string", "metadata", "invalid_client_metadata"],
    ["a JSON number", 42, "invalid_client_metadata"],
    ["JSON null", null, "invalid_client_metadata"],
    ["JSON true", true, "invalid_client_metadata"],
  ];

  for (const [name, metadata, error] of mistyped) {
    it(`rejects ${name} with ${error} and stores nothing`, async () => {
      const result = await registerRaw(JSON.stringify(metadata));
      expect(result.response.status).toBe(400);
      expect(result.body.error).toBe(error);
      expect(result.written).toEqual([]);
    });
  }

  it("rejects invalid JSON with 400 and stores nothing", async () => {
    const result = await registerRaw('{"redirect_uris": [');
    expect(result.response.status).toBe(400);
    expect(result.body.error).toBe("invalid_client_metadata");
    expect(result.written).toEqual([]);
  });

  it("renders a <script> client_name as text on the consent page", async () => {
    const name = `<script>alert("x")</script><img src=x onerror=alert(1)>`;
    const client = await harness.register({ client_name: name });
    const { response, body } = await authorize(harness.authorizeUrl(client.client_id));

    expect(response.status).toBe(200);
    expect(response.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(body).toContain("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;");
    expect(body).not.toContain("<script");
    expect(body).not.toContain("<img");
  });
});
