import jwt from "jsonwebtoken";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { RegisteredClient, TokenBody } from "../helpers/harness.js";

/** The redirect URI of the confidential test client; nothing listens there. */
const CONFIDENTIAL_REDIRECT_URI = "https://app.example.com/cb";

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterEach(() => {
  vi.useRealTimers();
});

afterAll(async () => {
  await harness.close();
});

function basicCredentials(clientId: string, secret: string): string {
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
  return `Basic ${Buffer.from(pair).toString("base64")}`;
}

/** Builds an authorization_code token request without client authentication. */
function codeRequest(code: string, redirectUri = REDIRECT_URI): Record<string, string> {
  return { grant_type: "authorization_code", code, code_verifier: VERIFIER, redirect_uri: redirectUri };
}

function refreshRequest(refreshToken: string, fields: Record<string, string> = {}): Record<string, string> {
  return { grant_type: "refresh_token", refresh_token: refreshToken, ...fields };
}

async function readJson(response: Response): Promise<Record<string, unknown>> {
  return await response.json() as Record<string, unknown>;
}

/** Asserts an RFC 6749 §5.2 error response. */
async function expectTokenError(response: Response, error: string, status = 400): Promise<void> {
  const body = await readJson(response);

  expect(response.status, JSON.stringify(body)).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(body.error).toBe(error);
  expect(body.access_token).toBeUndefined();
}

async function expectTokenSuccess(response: Response): Promise<TokenBody> {
  const body = await readJson(response);
  expect(response.status, JSON.stringify(body)).toBe(200);
  expect(response.headers.get("cache-control")).toBe("no-store");
  return body as unknown as TokenBody;
}

function claimsOf(accessToken: string): Record<string, unknown> {
  return jwt.decode(accessToken) as Record<string, unknown>;
}

async function registerConfidential(method = "client_secret_basic"): Promise<RegisteredClient & { client_secret: string }> {
  const client = await harness.register({ token_endpoint_auth_method: method, redirect_uris: [CONFIDENTIAL_REDIRECT_URI] });
  expect(client.client_secret).toBeTypeOf("string");
  return client as RegisteredClient & { client_secret: string };
}

/** Signs in with a confidential client and redeems the code with HTTP Basic. */
async function confidentialTokens(client: RegisteredClient & { client_secret: string }): Promise<TokenBody> {
  const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });
  const response = await harness.token(codeRequest(code, CONFIDENTIAL_REDIRECT_URI), {
    authorization: basicCredentials(client.client_id, client.client_secret),
  });
  return expectTokenSuccess(response);
}

describe("S52 token resource stays within the grant", () => {
  it("rejects a foreign resource", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    const response = await harness.token({
      ...codeRequest(code),
      client_id: client.client_id,
      resource: "https://other.example.com/",
    });

    await expectTokenError(response, "invalid_target");
  });

  it("omitted resource sets aud to the grant's resource", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    const body = await expectTokenSuccess(await harness.token({ ...codeRequest(code), client_id: client.client_id }));

    expect(claimsOf(body.access_token).aud).toBe(harness.mcpUrl);
  });

  it("origin alias yields the canonical aud", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    // With one protected resource, its origin is an alias of it, and tokens still name the canonical URL.
    const response = await harness.token({ ...codeRequest(code), client_id: client.client_id, resource: harness.issuer });
    const body = await expectTokenSuccess(response);

    expect(claimsOf(body.access_token).aud).toBe(harness.mcpUrl);
  });
});

describe("S53 token endpoint authenticates confidential clients", () => {
  it("rejects a wrong Basic secret with a challenge", async () => {
    const client = await registerConfidential();
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });

    const response = await harness.token(codeRequest(code, CONFIDENTIAL_REDIRECT_URI), {
      authorization: basicCredentials(client.client_id, `${client.client_secret}x`),
    });

    expect(response.headers.get("www-authenticate")).toBe(`Basic realm="${harness.issuer}"`);
    await expectTokenError(response, "invalid_client", 401);
  });

  it("rejects a wrong client_secret_post secret", async () => {
    const client = await registerConfidential("client_secret_post");
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });

    const response = await harness.token({
      ...codeRequest(code, CONFIDENTIAL_REDIRECT_URI),
      client_id: client.client_id,
      client_secret: `${client.client_secret}x`,
    });

    await expectTokenError(response, "invalid_client", 401);
  });

  it("rejects a request without authentication", async () => {
    const client = await registerConfidential();
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });

    const response = await harness.token({ ...codeRequest(code, CONFIDENTIAL_REDIRECT_URI), client_id: client.client_id });

    await expectTokenError(response, "invalid_client", 401);
  });

  it("rejects Basic plus a body secret", async () => {
    const client = await registerConfidential();
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });

    // Both credentials are correct: OAuth 2.1 §2.4 forbids using more than one method in a request.
    const response = await harness.token({ ...codeRequest(code, CONFIDENTIAL_REDIRECT_URI), client_secret: client.client_secret }, {
      authorization: basicCredentials(client.client_id, client.client_secret),
    });

    await expectTokenError(response, "invalid_request");
  });

  it("ignores a secret in the query string", async () => {
    const client = await registerConfidential("client_secret_post");
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });
    const url = new URL(harness.metadata.token_endpoint as string);
    url.searchParams.set("client_secret", client.client_secret);

    const response = await harness.postForm(url.href, { ...codeRequest(code, CONFIDENTIAL_REDIRECT_URI), client_id: client.client_id });

    await expectTokenError(response, "invalid_client", 401);
  });

  it("accepts the code after a rejected attempt", async () => {
    const client = await registerConfidential();
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });
    const fields = codeRequest(code, CONFIDENTIAL_REDIRECT_URI);
    await expectTokenError(await harness.token({ ...fields, client_id: client.client_id }), "invalid_client", 401);

    const response = await harness.token(fields, { authorization: basicCredentials(client.client_id, client.client_secret) });

    const body = await expectTokenSuccess(response);
    expect(claimsOf(body.access_token).client_id).toBe(client.client_id);
  });

  it("accepts a correct client_secret_post secret", async () => {
    const client = await registerConfidential("client_secret_post");
    const { code } = await harness.signIn(client.client_id, { redirect_uri: CONFIDENTIAL_REDIRECT_URI });

    const response = await harness.token({
      ...codeRequest(code, CONFIDENTIAL_REDIRECT_URI),
      client_id: client.client_id,
      client_secret: client.client_secret,
    });

    await expectTokenSuccess(response);
  });
});

describe("S58 refresh token is bound to its client", () => {
  it("rejects another public client", async () => {
    const owner = await harness.register();
    const other = await harness.register();
    const tokens = await harness.obtainTokens(owner.client_id);
    const before = harness.upstreamRequests.length;

    await expectTokenError(await harness.token(refreshRequest(tokens.refresh_token, { client_id: other.client_id })), "invalid_grant");

    expect(harness.upstreamRequests.length).toBe(before);
    // The failed attempt did not use up the owner's token.
    await expectTokenSuccess(await harness.token(refreshRequest(tokens.refresh_token, { client_id: owner.client_id })));
  });

  it("another client's reuse keeps the family", async () => {
    const owner = await harness.register();
    const other = await harness.register();
    const first = await harness.obtainTokens(owner.client_id);
    const second = await expectTokenSuccess(await harness.token(refreshRequest(first.refresh_token, { client_id: owner.client_id })));

    // Past the grace window, reuse of a rotated token by its own client would revoke the whole family.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 60 * 1000);
    await expectTokenError(await harness.token(refreshRequest(first.refresh_token, { client_id: other.client_id })), "invalid_grant");

    expect((await harness.callMcp(`Bearer ${second.access_token}`)).status).toBe(200);
    await expectTokenSuccess(await harness.token(refreshRequest(second.refresh_token, { client_id: owner.client_id })));
  });

  it("rejects an authenticated confidential client", async () => {
    const owner = await harness.register();
    const confidential = await registerConfidential();
    const tokens = await harness.obtainTokens(owner.client_id);

    const response = await harness.token(refreshRequest(tokens.refresh_token), {
      authorization: basicCredentials(confidential.client_id, confidential.client_secret),
    });

    await expectTokenError(response, "invalid_grant");
  });

  it("requires the confidential owner's authentication", async () => {
    const client = await registerConfidential();
    const tokens = await confidentialTokens(client);

    const unauthenticated = await harness.token(refreshRequest(tokens.refresh_token, { client_id: client.client_id }));
    await expectTokenError(unauthenticated, "invalid_client", 401);

    const authenticated = await harness.token(refreshRequest(tokens.refresh_token), {
      authorization: basicCredentials(client.client_id, client.client_secret),
    });
    await expectTokenSuccess(authenticated);
  });
});

describe("S59 refresh scope can only shrink", () => {
  async function broadTokens(): Promise<{ clientId: string; tokens: TokenBody }> {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { scope: "mcp:read mcp:write" });
    expect(tokens.scope).toBe("mcp:read mcp:write");
    return { clientId: client.client_id, tokens };
  }

  it("accepts a subset", async () => {
    const { clientId, tokens } = await broadTokens();

    const body = await expectTokenSuccess(await harness.token(refreshRequest(tokens.refresh_token, { client_id: clientId, scope: "mcp:read" })));

    expect(body.scope).toBe("mcp:read");
    expect(claimsOf(body.access_token).scope).toBe("mcp:read");
  });

  it("rejects an unknown added scope", async () => {
    const { clientId, tokens } = await broadTokens();

    const response = await harness.token(refreshRequest(tokens.refresh_token, { client_id: clientId, scope: "mcp:read mcp:admin" }));

    await expectTokenError(response, "invalid_scope");
  });

  it("rejects a configured but ungranted scope", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id, { scope: "mcp:read" });

    const response = await harness.token(refreshRequest(tokens.refresh_token, { client_id: client.client_id, scope: "mcp:read mcp:write" }));

    await expectTokenError(response, "invalid_scope");
  });

  it("omitted scope keeps the original", async () => {
    const { clientId, tokens } = await broadTokens();

    const body = await expectTokenSuccess(await harness.token(refreshRequest(tokens.refresh_token, { client_id: clientId })));

    expect(body.scope).toBe("mcp:read mcp:write");
    expect(claimsOf(body.access_token).scope).toBe("mcp:read mcp:write");
  });

  it("rotated token keeps the presented scope", async () => {
    const { clientId, tokens } = await broadTokens();
    const narrowed = await expectTokenSuccess(await harness.token(refreshRequest(tokens.refresh_token, { client_id: clientId, scope: "mcp:read" })));

    const next = await expectTokenSuccess(await harness.token(refreshRequest(narrowed.refresh_token, { client_id: clientId })));

    expect(next.scope).toBe("mcp:read mcp:write");
    expect(claimsOf(next.access_token).scope).toBe("mcp:read mcp:write");
  });
});

describe("S60 refresh resource stays within the grant", () => {
  it("rejects a foreign resource", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const response = await harness.token(refreshRequest(tokens.refresh_token, {
      client_id: client.client_id,
      resource: "https://other.example.com/mcp",
    }));

    await expectTokenError(response, "invalid_target");
  });

  it("omitted resource keeps the grant's aud", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const body = await expectTokenSuccess(await harness.token(refreshRequest(tokens.refresh_token, { client_id: client.client_id })));

    expect(claimsOf(body.access_token).aud).toBe(harness.mcpUrl);
  });

  it("accepts the grant's own resource", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const response = await harness.token(refreshRequest(tokens.refresh_token, { client_id: client.client_id, resource: harness.mcpUrl }));
    const body = await expectTokenSuccess(response);

    expect(claimsOf(body.access_token).aud).toBe(harness.mcpUrl);
  });
});
