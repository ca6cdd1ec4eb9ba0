import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { Harness, REDIRECT_URI } from "../helpers/harness.js";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

const PUBLIC_CLIENT = {
  redirect_uris: [REDIRECT_URI],
  token_endpoint_auth_method: "none",
  grant_types: ["authorization_code", "refresh_token"],
  response_types: ["code"],
  client_name: "T",
};

const CONFIDENTIAL_CLIENT = {
  redirect_uris: ["https://app.example.com/cb"],
  client_name: "Confidential",
};

function register(body: unknown): Promise<Response> {
  return harness.postJson(harness.metadata.registration_endpoint as string, body);
}

async function readBody(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

/** Checks an RFC 7591 §3.2.2 error response and returns its body. */
async function expectRegistrationError(response: Response, error: string): Promise<Record<string, unknown>> {
  expect(response.status).toBe(400);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  const body = await readBody(response);
  expect(body.error).toBe(error);
  return body;
}

describe("S14 public client registration", () => {
  it("returns 201 with the registered metadata and no secret", async () => {
    const response = await register(PUBLIC_CLIENT);

    expect(response.status).toBe(201);
    expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
    expect(response.headers.get("cache-control")).toBe("no-store");

    const body = await readBody(response);
    expect(typeof body.client_id).toBe("string");
    expect(body.client_id).not.toBe("");
    expect(body.redirect_uris).toEqual(PUBLIC_CLIENT.redirect_uris);
    expect(body.token_endpoint_auth_method).toBe("none");
    expect(body.grant_types).toEqual(PUBLIC_CLIENT.grant_types);
    expect(body.response_types).toEqual(PUBLIC_CLIENT.response_types);
    expect(body.client_name).toBe("T");
    expect(body).not.toHaveProperty("client_secret");
    expect(body).not.toHaveProperty("client_secret_expires_at");
  });

  it("reports client_id_issued_at in integer epoch seconds", async () => {
    const before = Math.floor(Date.now() / 1000);
    const body = await readBody(await register(PUBLIC_CLIENT));
    const after = Math.floor(Date.now() / 1000);

    expect(Number.isInteger(body.client_id_issued_at)).toBe(true);
    expect(body.client_id_issued_at).toBeGreaterThanOrEqual(before);
    expect(body.client_id_issued_at).toBeLessThanOrEqual(after);
  });

  it("issues a different client_id per registration", async () => {
    const first = await readBody(await register(PUBLIC_CLIENT));
    const second = await readBody(await register(PUBLIC_CLIENT));

    expect(first.client_id).not.toBe(second.client_id);
  });

  // The package rejects these bodies with 400 invalid_client_metadata, not 415 Unsupported Media Type.
  const badBodies: Array<[string, string, string]> = [
    ["malformed JSON", "application/json", '{"redirect_uris":['],
    ["a form-encoded body", "application/x-www-form-urlencoded", `redirect_uris=${encodeURIComponent(REDIRECT_URI)}&token_endpoint_auth_method=none`],
    ["a JSON array", "application/json", JSON.stringify([PUBLIC_CLIENT])],
    ["a JSON string", "application/json", JSON.stringify("client")],
  ];

  for (const [name, contentType, body] of badBodies) {
    it(`rejects ${name} with invalid_client_metadata`, async () => {
      const response = await fetch(harness.metadata.registration_endpoint as string, {
        method: "POST",
        headers: { "content-type": contentType },
        body,
      });

      await expectRegistrationError(response, "invalid_client_metadata");
    });
  }
});

describe("S15 confidential client registration", () => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ["an omitted method defaults to client_secret_basic", {}, "client_secret_basic"],
    ["client_secret_basic", { token_endpoint_auth_method: "client_secret_basic" }, "client_secret_basic"],
    ["client_secret_post", { token_endpoint_auth_method: "client_secret_post" }, "client_secret_post"],
  ];

  for (const [name, extra, method] of cases) {
    it(`issues a secret for ${name}`, async () => {
      const response = await register({ ...CONFIDENTIAL_CLIENT, ...extra });

      expect(response.status).toBe(201);
      expect(response.headers.get("cache-control")).toBe("no-store");

      const body = await readBody(response);
      expect(body.token_endpoint_auth_method).toBe(method);
      expect(body.client_secret_expires_at).toBe(0);
      expect(typeof body.client_secret).toBe("string");
      // 22 base64url characters carry 132 bits, the shortest string at or above 2^128 (OAuth 2.1 §7.7).
      expect(body.client_secret).toMatch(/^[A-Za-z0-9_-]{22,}$/);
    });
  }

  it("issues a different secret per registration", async () => {
    const first = await readBody(await register(CONFIDENTIAL_CLIENT));
    const second = await readBody(await register(CONFIDENTIAL_CLIENT));

    expect(first.client_secret).not.toBe(second.client_secret);
  });

  it("issued secret authenticates the client", async () => {
    const body = await readBody(await register(CONFIDENTIAL_CLIENT));
    const credentials = Buffer.from(`${String(body.client_id)}:${String(body.client_secret)}`).toString("base64");

    // The revocation endpoint authenticates the client first (RFC 7009 §2.1) and returns 200 for an unknown token (§2.2).
    const accepted = await harness.revoke({ token: "unknown-token" }, { authorization: `Basic ${credentials}` });
    expect(accepted.status).toBe(200);

    const wrongSecret = Buffer.from(`${String(body.client_id)}:wrong`).toString("base64");
    const rejected = await harness.revoke({ token: "unknown-token" }, { authorization: `Basic ${wrongSecret}` });
    expect(rejected.status).toBe(401);
    expect((await readBody(rejected)).error).toBe("invalid_client");
  });
});

describe("S16 unknown client metadata is ignored", () => {
  it("accepts unknown members and application_type native", async () => {
    const response = await register({ ...PUBLIC_CLIENT, x_custom: 1, application_type: "native" });

    expect(response.status).toBe(201);
    const body = await readBody(response);
    expect(body.application_type).toBe("native");
    expect(body).not.toHaveProperty("x_custom");
  });

  it("accepts application_type web", async () => {
    const response = await register({ ...PUBLIC_CLIENT, application_type: "web" });

    expect(response.status).toBe(201);
    expect((await readBody(response)).application_type).toBe("web");
  });

  it("ignores an application_type it does not know", async () => {
    const response = await register({ ...PUBLIC_CLIENT, application_type: "desktop" });

    expect(response.status).toBe(201);
    expect(await readBody(response)).not.toHaveProperty("application_type");
  });
});

describe("S17 redirect URIs are validated at registration", () => {
  const rejected: Array<[string, unknown]> = [
    ["missing", undefined],
    ["empty", []],
    ["http on a non-loopback host", ["http://evil.example/cb"]],
    ["with a fragment", ["https://app.example.com/cb#f"]],
    ["relative", ["/cb"]],
    ["javascript scheme", ["javascript:alert(1)"]],
    ["private-use scheme without a dot", ["myapp:/cb"]],
    ["one bad among good ones", ["https://app.example.com/cb", "http://evil.example/cb"]],
  ];

  for (const [name, redirectUris] of rejected) {
    it(`rejects a redirect_uris value that is ${name}`, async () => {
      const response = await register({ ...PUBLIC_CLIENT, redirect_uris: redirectUris });

      await expectRegistrationError(response, "invalid_redirect_uri");
    });
  }

  const accepted = [
    "https://app.example.com/cb",
    "http://127.0.0.1:3000/callback",
    "http://[::1]/cb",
    "http://localhost:3000/callback",
    "com.example.app:/cb",
  ];

  for (const redirectUri of accepted) {
    it(`accepts ${redirectUri}`, async () => {
      const response = await register({ ...PUBLIC_CLIENT, redirect_uris: [redirectUri] });

      expect(response.status).toBe(201);
      expect((await readBody(response)).redirect_uris).toEqual([redirectUri]);
    });
  }
});

describe("S18 implicit, password and inconsistent metadata are rejected", () => {
  // RFC 7591 §3.2.2 allows rejecting or substituting values. The package rejects, so nothing is stored as sent.
  const rejected: Array<[string, Record<string, unknown>]> = [
    ["grant_types implicit", { grant_types: ["implicit"] }],
    ["grant_types password", { grant_types: ["password"] }],
    ["grant_types with password next to authorization_code", { grant_types: ["authorization_code", "password"] }],
    ["grant_types without authorization_code", { grant_types: ["refresh_token"] }],
    ["response_types token", { response_types: ["token"] }],
    ["response_types code token", { response_types: ["code", "token"] }],
    ["an unknown token_endpoint_auth_method", { token_endpoint_auth_method: "bogus" }],
  ];

  for (const [name, metadata] of rejected) {
    it(`rejects ${name}`, async () => {
      const response = await register({ ...PUBLIC_CLIENT, ...metadata });

      await expectRegistrationError(response, "invalid_client_metadata");
    });
  }
});
