import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";

import { Harness, REDIRECT_URI, VERIFIER } from "../helpers/harness.js";
import type { TokenBody } from "../helpers/harness.js";

/** A token-endpoint error response as received, kept for the format checks at the end of this file. */
interface RecordedError {
  test: string;
  status: number;
  contentType: string | null;
  cacheControl: string | null;
  body: Record<string, unknown> | undefined;
}

/** The error codes RFC 6749 §5.2 and RFC 8707 §2 define for the token endpoint. */
const TOKEN_ERROR_CODES = [
  "invalid_request",
  "invalid_client",
  "invalid_grant",
  "unauthorized_client",
  "unsupported_grant_type",
  "invalid_scope",
  "invalid_target",
];

/** RFC 6749 §5.2: `error` and `error_description` use only %x20-21 / %x23-5B / %x5D-7E. */
const ERROR_TEXT = /^[\x20\x21\x23-\x5B\x5D-\x7E]*$/;

/** A verifier with valid RFC 7636 syntax that does not match the test challenge. */
const WRONG_VERIFIER = "A".repeat(43);

const recordedErrors: RecordedError[] = [];
let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start();
});

afterAll(async () => {
  await harness.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Freezes `Date` at the current time. Timers keep running, so the servers still respond. */
function freezeTime(): number {
  vi.useFakeTimers({ toFake: ["Date"] });
  const start = Date.now();
  vi.setSystemTime(start);
  return start;
}

/** Builds an authorization_code token request. An `undefined` override leaves that field out. */
function codeRequest(code: string, clientId: string, overrides: Record<string, string | undefined> = {}): Record<string, string> {
  const fields: Record<string, string | undefined> = {
    grant_type: "authorization_code",
    code,
    code_verifier: VERIFIER,
    client_id: clientId,
    redirect_uri: REDIRECT_URI,
    resource: harness.mcpUrl,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(fields).filter((entry): entry is [string, string] => entry[1] !== undefined));
}

async function readJson(response: Response): Promise<Record<string, unknown> | undefined> {
  const text = await response.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}

/** Asserts an RFC 6749 §5.2 error response with `error` and `status`, and records it for the format checks. */
async function expectTokenError(response: Response, error: string, status = 400): Promise<void> {
  const body = await readJson(response);
  recordedErrors.push({
    test: expect.getState().currentTestName ?? "unknown test",
    status: response.status,
    contentType: response.headers.get("content-type"),
    cacheControl: response.headers.get("cache-control"),
    body,
  });

  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  expect(body?.error).toBe(error);
}

async function expectTokenSuccess(response: Response): Promise<TokenBody> {
  const body = await readJson(response);
  expect(response.status, JSON.stringify(body)).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json(;|$)/);
  expect(response.headers.get("cache-control")).toBe("no-store");
  return body as unknown as TokenBody;
}

function basicCredentials(clientId: string, secret: string): string {
  const pair = `${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`;
  return `Basic ${Buffer.from(pair).toString("base64")}`;
}

function decodeJwtPart(token: string, index: number): Record<string, unknown> {
  const part = token.split(".")[index] ?? "";
  return JSON.parse(Buffer.from(part, "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("S47 authorization code exchange succeeds", () => {
  it("returns JWT and opaque refresh token", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    const response = await harness.token(codeRequest(code, client.client_id));
    const body = await expectTokenSuccess(response);

    expect(response.headers.get("pragma")).toBe("no-cache");
    expect(Object.keys(body).sort()).toEqual(["access_token", "expires_in", "refresh_token", "scope", "token_type"]);
    expect(body.token_type).toBe("Bearer");
    expect(Number.isInteger(body.expires_in)).toBe(true);
    expect(body.expires_in).toBeGreaterThan(0);
    expect(body.scope).toBe("mcp:read");

    expect(body.access_token.split(".")).toHaveLength(3);
    expect(decodeJwtPart(body.access_token, 0).typ).toBe("at+jwt");
    expect(typeof body.refresh_token).toBe("string");
    expect(body.refresh_token.length).toBeGreaterThanOrEqual(22);
    expect(body.refresh_token).not.toContain(".");
  });

  it("access token works at the MCP endpoint", async () => {
    const client = await harness.register();
    const tokens = await harness.obtainTokens(client.client_id);

    const response = await harness.callMcp(`Bearer ${tokens.access_token}`);

    expect(response.status).toBe(200);
  });
});

describe("S48 token endpoint verifies PKCE", () => {
  const cases: Array<[string, string | undefined, string[]]> = [
    ["wrong verifier", WRONG_VERIFIER, ["invalid_grant"]],
    // Missing code_verifier is invalid_request for this package.
    ["omitted verifier", undefined, ["invalid_request"]],
    // Either code is acceptable for a verifier shorter than RFC 7636 §4.1 permits.
    ["42-character verifier", VERIFIER.slice(0, 42), ["invalid_request", "invalid_grant"]],
  ];

  for (const [name, verifier, errors] of cases) {
    it(`rejects the ${name}`, async () => {
      const client = await harness.register();
      const { code } = await harness.signIn(client.client_id);

      const response = await harness.token(codeRequest(code, client.client_id, { code_verifier: verifier }));
      const body = await readJson(response.clone());

      expect(errors).toContain(body?.error);
      await expectTokenError(response, String(body?.error));
    });
  }
});

describe("S49 authorization code is single-use", () => {
  it("replay with verifier revokes tokens", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);
    const first = await expectTokenSuccess(await harness.token(codeRequest(code, client.client_id)));
    expect((await harness.callMcp(`Bearer ${first.access_token}`)).status).toBe(200);

    await expectTokenError(await harness.token(codeRequest(code, client.client_id)), "invalid_grant");

    const mcp = await harness.callMcp(`Bearer ${first.access_token}`);
    expect(mcp.status).toBe(401);
    expect(mcp.headers.get("www-authenticate")).toContain('error="invalid_token"');
    await expectTokenError(await harness.token({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: client.client_id,
    }), "invalid_grant");
  });

  it("replay with wrong verifier keeps tokens", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);
    const first = await expectTokenSuccess(await harness.token(codeRequest(code, client.client_id)));

    const replay = await harness.token(codeRequest(code, client.client_id, { code_verifier: WRONG_VERIFIER }));
    await expectTokenError(replay, "invalid_grant");

    expect((await harness.callMcp(`Bearer ${first.access_token}`)).status).toBe(200);
  });
});

describe("S50 code is bound to its client and expires", () => {
  it("rejects the code at another public client", async () => {
    const owner = await harness.register();
    const other = await harness.register();
    const { code } = await harness.signIn(owner.client_id);

    await expectTokenError(await harness.token(codeRequest(code, other.client_id)), "invalid_grant");
  });

  it("rejects the code at an authenticated confidential client", async () => {
    const owner = await harness.register();
    const confidential = await harness.register({
      token_endpoint_auth_method: "client_secret_basic",
      redirect_uris: ["https://app.example.com/cb"],
    });
    expect(confidential.client_secret).toBeTypeOf("string");
    const { code } = await harness.signIn(owner.client_id);

    const fields = codeRequest(code, confidential.client_id, { client_id: undefined });
    const response = await harness.token(fields, {
      authorization: basicCredentials(confidential.client_id, confidential.client_secret as string),
    });

    await expectTokenError(response, "invalid_grant");
  });

  it("accepts the code 30 seconds after issue", async () => {
    const start = freezeTime();
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    vi.setSystemTime(start + 30 * 1000);
    await expectTokenSuccess(await harness.token(codeRequest(code, client.client_id)));
  });

  it("rejects the code 11 minutes after issue", async () => {
    const start = freezeTime();
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    vi.setSystemTime(start + 11 * 60 * 1000);
    const response = await harness.token(codeRequest(code, client.client_id));

    await expectTokenError(response, "invalid_grant");
  });
});

describe("S51 token endpoint enforces redirect_uri", () => {
  it("accepts an omitted redirect_uri", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    await expectTokenSuccess(await harness.token(codeRequest(code, client.client_id, { redirect_uri: undefined })));
  });

  it("rejects a different redirect_uri", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    const response = await harness.token(codeRequest(code, client.client_id, { redirect_uri: "http://127.0.0.1:3000/other" }));

    await expectTokenError(response, "invalid_grant");
  });

  it("accepts the matching redirect_uri", async () => {
    const client = await harness.register();
    const { code } = await harness.signIn(client.client_id);

    await expectTokenSuccess(await harness.token(codeRequest(code, client.client_id, { redirect_uri: REDIRECT_URI })));
  });
});

describe("S56 refresh tokens rotate and expire when idle", () => {
  it("issues a new refresh token and rejects the old one", async () => {
    const client = await harness.register();
    const first = await harness.obtainTokens(client.client_id);

    const refreshed = await expectTokenSuccess(await harness.token({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: client.client_id,
    }));

    expect(refreshed.access_token).toBeTypeOf("string");
    expect(refreshed.access_token).not.toBe(first.access_token);
    expect(refreshed.refresh_token).toBeTypeOf("string");
    expect(refreshed.refresh_token).not.toBe(first.refresh_token);

    // Inside the grace window a retry of RT1 gets the same successor; "afterwards" means after it.
    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + 11_000);
    await expectTokenError(await harness.token({
      grant_type: "refresh_token",
      refresh_token: first.refresh_token,
      client_id: client.client_id,
    }), "invalid_grant");
  });

  describe("with refreshTokenTtl of 60 seconds", () => {
    let shortLived: Harness;

    beforeAll(async () => {
      shortLived = await Harness.start({ proxyOptions: { refreshTokenTtl: 60 } });
    });

    afterAll(async () => {
      await shortLived.close();
    });

    it("accepts a refresh token used within the idle window", async () => {
      const start = freezeTime();
      const client = await shortLived.register();
      const first = await shortLived.obtainTokens(client.client_id);

      vi.setSystemTime(start + 50 * 1000);
      const second = await expectTokenSuccess(await shortLived.token({
        grant_type: "refresh_token",
        refresh_token: first.refresh_token,
        client_id: client.client_id,
      }));

      // Rotation restarts the idle window, so 100 seconds after sign-in the new token still works.
      vi.setSystemTime(start + 100 * 1000);
      await expectTokenSuccess(await shortLived.token({
        grant_type: "refresh_token",
        refresh_token: second.refresh_token,
        client_id: client.client_id,
      }));
    });

    it("rejects a refresh token idle past the window", async () => {
      const start = freezeTime();
      const client = await shortLived.register();
      const first = await shortLived.obtainTokens(client.client_id);

      vi.setSystemTime(start + 61 * 1000);
      const response = await shortLived.token({
        grant_type: "refresh_token",
        refresh_token: first.refresh_token,
        client_id: client.client_id,
      });

      await expectTokenError(response, "invalid_grant");
    });
  });
});

// This block must stay last because it checks the errors that the tests above recorded.
describe("S55 token endpoint errors use the RFC 6749 format", () => {
  it("collects errors from earlier tests", () => {
    expect(recordedErrors.length).toBeGreaterThanOrEqual(10);
  });

  it("each error has the required format", () => {
    for (const recorded of recordedErrors) {
      const where = `${recorded.test} (status ${recorded.status})`;
      const error = recorded.body?.error;
      const description = recorded.body?.error_description;

      expect(recorded.contentType, where).toMatch(/^application\/json(;|$)/);
      expect(recorded.cacheControl, where).toBe("no-store");
      expect(TOKEN_ERROR_CODES, where).toContain(error);
      expect(error, where).toMatch(ERROR_TEXT);
      if (description !== undefined) {
        expect(description, where).toBeTypeOf("string");
        expect(description, where).toMatch(ERROR_TEXT);
      }
    }
  });
});
