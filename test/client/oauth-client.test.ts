import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { auth } from "@modelcontextprotocol/sdk/client/auth.js";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { FileTokenStore, MemoryTokenStore, OAuthClient, OAuthClientError } from "../../lib/client/index.js";
import type { OAuthClientOptions, TokenStore } from "../../lib/client/index.js";
import { Harness } from "../helpers/harness.js";
import { isListening, playUser } from "./browser-step.js";
import type { CallbackPage, UserPlay } from "./browser-step.js";

const ACCESS_TOKEN_TTL = 120;

interface SignInLog {
  urls: URL[];
  pages: CallbackPage[];
  tokenRequests: string[];
}

let harness: Harness;

beforeAll(async () => {
  harness = await Harness.start({ accessTokenTtl: ACCESS_TOKEN_TTL });
});

afterAll(async () => {
  await harness.close();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Creates an OAuthClient whose browser step is played over HTTP, recording every authorization URL and grant type. */
function createClient(store: TokenStore, play: UserPlay = {}, options: Partial<OAuthClientOptions> = {}): { oauth: OAuthClient; log: SignInLog } {
  const log: SignInLog = { urls: [], pages: [], tokenRequests: [] };
  const oauth = new OAuthClient({
    serverUrl: harness.mcpUrl,
    clientName: "OAuthClient test",
    store,
    onAuthorizationUrl: async (url) => {
      log.urls.push(url);
      log.pages.push(await playUser(url, play));
    },
    fetch: async (input, init) => {
      if (String(input) === harness.metadata.token_endpoint) {
        log.tokenRequests.push(new URLSearchParams(String(init?.body)).get("grant_type") ?? "");
      }
      return fetch(input, init);
    },
    ...options,
  });
  return { oauth, log };
}

async function callWhoami(oauth: OAuthClient): Promise<Record<string, unknown>> {
  const client = new Client({ name: "oauth-client-test", version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(harness.mcpUrl), { authProvider: oauth, fetch: oauth.fetch }));
  try {
    const result = await client.callTool({ name: "whoami", arguments: {} });
    const content = result.content as Array<{ text?: string }>;
    return JSON.parse(content.map((item) => item.text ?? "").join("")) as Record<string, unknown>;
  } finally {
    await client.close();
  }
}

function redirectPort(url: URL | undefined): number {
  return Number(new URL(url?.searchParams.get("redirect_uri") ?? "http://127.0.0.1:1").port);
}

describe("OAuthClient with the demo proxy", () => {
  it("signs in through the SDK transport and calls a tool", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);

    const identity = await callWhoami(oauth);

    expect(identity.sub).toBe("alice");
    expect(log.urls).toHaveLength(1);
    const url = log.urls[0] as URL;
    expect(url.origin + url.pathname).toBe(harness.metadata.authorization_endpoint);
    expect(url.searchParams.get("code_challenge_method")).toBe("S256");
    expect(url.searchParams.get("resource")).toBe(harness.mcpUrl);
    // The proxy's challenge requires mcp:read, and the client requests exactly that.
    expect(url.searchParams.get("scope")).toBe("mcp:read");
    expect(url.searchParams.get("redirect_uri")).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(log.pages[0]?.status).toBe(200);
    expect(log.pages[0]?.body).toContain("You can close this tab");
    expect(log.tokenRequests).toEqual(["authorization_code"]);
    expect(await isListening(redirectPort(url))).toBe(false);

    const stored = await store.get(harness.mcpUrl);
    expect(stored?.authorizationServer).toBe(harness.issuer);
    expect(stored?.client?.kind).toBe("dynamic");
    expect(stored?.tokens?.refresh_token).toEqual(expect.any(String));
  });

  it("refreshes the access token ahead of expiry", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);
    await callWhoami(oauth);
    const first = (await store.get(harness.mcpUrl))?.tokens;

    vi.useFakeTimers({ toFake: ["Date"] });
    // Inside the default 60 s refresh window, while the token is still valid.
    vi.setSystemTime(Date.now() + (ACCESS_TOKEN_TTL - 30) * 1000);
    const identity = await callWhoami(oauth);

    expect(identity.sub).toBe("alice");
    expect(log.tokenRequests).toEqual(["authorization_code", "refresh_token"]);
    const second = (await store.get(harness.mcpUrl))?.tokens;
    expect(second?.access_token).not.toBe(first?.access_token);
    expect(second?.refresh_token).not.toBe(first?.refresh_token);
    expect(log.urls).toHaveLength(1);
  });

  it("refreshes after the access token expired", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);
    await callWhoami(oauth);
    const expired = (await store.get(harness.mcpUrl))?.tokens?.access_token;

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + (ACCESS_TOKEN_TTL + 60) * 1000);
    expect((await harness.callMcp(`Bearer ${expired}`)).status).toBe(401);
    const identity = await callWhoami(oauth);

    expect(identity.sub).toBe("alice");
    expect(log.tokenRequests).toEqual(["authorization_code", "refresh_token"]);
    expect(log.urls).toHaveLength(1);
  });

  it("signs in again when the refresh token is rejected", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);
    await callWhoami(oauth);
    const stored = await store.get(harness.mcpUrl);
    const revoked = await harness.revoke({ token: stored?.tokens?.refresh_token ?? "", client_id: stored?.client?.client_id ?? "" });
    expect(revoked.status).toBe(200);

    vi.useFakeTimers({ toFake: ["Date"] });
    vi.setSystemTime(Date.now() + (ACCESS_TOKEN_TTL + 60) * 1000);
    const identity = await callWhoami(oauth);

    expect(identity.sub).toBe("alice");
    expect(log.tokenRequests).toEqual(["authorization_code", "refresh_token", "authorization_code"]);
    expect(log.urls).toHaveLength(2);
    // The registration is kept, so the second sign-in uses the same client.
    expect(log.urls[1]?.searchParams.get("client_id")).toBe(stored?.client?.client_id);
  });

  it("signs in again when the server rejects a token before it expires", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);
    await callWhoami(oauth);
    const stored = await store.get(harness.mcpUrl);
    // Revoking ends the whole grant: the access token stops working and the refresh token too.
    await harness.revoke({ token: stored?.tokens?.refresh_token ?? "", client_id: stored?.client?.client_id ?? "" });

    const identity = await callWhoami(oauth);

    expect(identity.sub).toBe("alice");
    expect(log.tokenRequests).toEqual(["authorization_code", "refresh_token", "authorization_code"]);
    expect(log.urls).toHaveLength(2);
  });

  it("re-authorizes through the SDK when a rejected refresh leaves no tokens", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);
    await callWhoami(oauth);
    const stored = await store.get(harness.mcpUrl);
    await harness.revoke({ token: stored?.tokens?.refresh_token ?? "", client_id: stored?.client?.client_id ?? "" });

    // Without the fetch wrapper the SDK handles the 401 itself: its refresh fails with
    // invalid_grant, it invalidates the tokens, and tokens() signs in again.
    const sdkTokenRequests: string[] = [];
    const transportFetch: typeof fetch = async (input, init) => {
      if (String(input) === harness.metadata.token_endpoint) {
        sdkTokenRequests.push(new URLSearchParams(String(init?.body)).get("grant_type") ?? "");
      }
      return fetch(input, init);
    };
    const client = new Client({ name: "oauth-client-test", version: "1.0.0" });
    await client.connect(new StreamableHTTPClientTransport(new URL(harness.mcpUrl), { authProvider: oauth, fetch: transportFetch }));
    const result = await client.callTool({ name: "whoami", arguments: {} });
    await client.close();

    expect(JSON.stringify(result.content)).toContain("alice");
    expect(log.urls).toHaveLength(2);
    expect(log.tokenRequests).toEqual(["authorization_code", "authorization_code"]);
    // The SDK's own refresh with the revoked token, then its refresh of the new tokens.
    expect(sdkTokenRequests).toEqual(["refresh_token", "refresh_token"]);
  });

  it("completes an authorization the SDK starts", async () => {
    const store = new MemoryTokenStore();
    const { oauth, log } = createClient(store);
    await callWhoami(oauth);
    // Tokens without a refresh token, as servers that issue none leave them, send the SDK to the browser.
    const stored = await store.get(harness.mcpUrl);
    delete stored?.tokens?.refresh_token;
    await store.set(harness.mcpUrl, stored as NonNullable<typeof stored>);
    const restarted = createClient(store);

    const result = await auth(restarted.oauth, { serverUrl: harness.mcpUrl });

    expect(result).toBe("REDIRECT");
    const url = restarted.log.urls[0];
    expect(url?.searchParams.get("state")).toEqual(expect.any(String));
    expect(restarted.log.pages[0]?.status).toBe(200);
    expect(restarted.log.tokenRequests).toEqual(["authorization_code"]);
    expect(await isListening(redirectPort(url))).toBe(false);
    const renewed = await store.get(harness.mcpUrl);
    expect(renewed?.tokens?.access_token).not.toBe(stored?.tokens?.access_token);
    expect((await harness.callMcp(`Bearer ${renewed?.tokens?.access_token}`)).status).toBe(200);
    expect(log.urls).toHaveLength(1);
  });

  it("reuses tokens from the file store after a restart", async () => {
    const directory = await mkdtemp(join(tmpdir(), "oauth-client-"));
    try {
      const first = createClient(new FileTokenStore({ directory }));
      await callWhoami(first.oauth);
      expect(first.log.urls).toHaveLength(1);

      // A new client and store on the same folder stand for the next run of the program.
      const restarted = createClient(new FileTokenStore({ directory }), {}, {
        onAuthorizationUrl: () => {
          throw new Error("The restarted client asked the user to sign in again");
        },
      });
      const identity = await callWhoami(restarted.oauth);

      expect(identity.sub).toBe("alice");
      expect(restarted.log.tokenRequests).toEqual([]);
    } finally {
      await rm(directory, { recursive: true, force: true });
    }
  });

  it("sends pre-registered credentials instead of registering", async () => {
    const registered = await harness.register({ client_name: "Pre-registered CLI", redirect_uris: ["http://127.0.0.1/callback"] });
    const { oauth, log } = createClient(new MemoryTokenStore(), {}, { clientId: registered.client_id });

    const identity = await callWhoami(oauth);

    expect(identity.sub).toBe("alice");
    expect(log.urls[0]?.searchParams.get("client_id")).toBe(registered.client_id);
  });
});

describe("OAuthClient sign-in failures", () => {
  const cases: Array<{ name: string; play: UserPlay; options?: Partial<OAuthClientOptions>; code: OAuthClientError["code"]; message: RegExp; oauthError?: string }> = [
    {
      name: "state mismatch",
      play: { rewrite: (url) => withParam(url, "state", "forged-state") },
      code: "ERR_MCP_OAUTH_CLIENT_STATE_MISMATCH",
      message: /state that does not belong to this sign-in/,
    },
    {
      name: "iss mismatch",
      play: { rewrite: (url) => withParam(url, "iss", "http://127.0.0.1:9/other-issuer") },
      code: "ERR_MCP_OAUTH_CLIENT_ISSUER_MISMATCH",
      message: /names issuer "http:\/\/127\.0\.0\.1:9\/other-issuer".*mix-up attack/,
    },
    {
      name: "missing iss",
      play: { rewrite: (url) => withParam(url, "iss", undefined) },
      code: "ERR_MCP_OAUTH_CLIENT_ISSUER_MISMATCH",
      message: /has no iss parameter/,
    },
    {
      name: "access_denied redirect",
      play: { decision: "deny" },
      code: "ERR_MCP_OAUTH_CLIENT_AUTHORIZATION_ERROR",
      message: /declined at the authorization server: access_denied/,
      oauthError: "access_denied",
    },
  ];

  for (const testCase of cases) {
    it(`${testCase.name} ends the sign-in`, async () => {
      const { oauth, log } = createClient(new MemoryTokenStore(), testCase.play, testCase.options);
      const client = new Client({ name: "oauth-client-test", version: "1.0.0" });

      const failure = await client.connect(new StreamableHTTPClientTransport(new URL(harness.mcpUrl), { authProvider: oauth })).catch((error: unknown) => error);

      expect(failure).toBeInstanceOf(OAuthClientError);
      expect((failure as OAuthClientError).code).toBe(testCase.code);
      expect((failure as OAuthClientError).message).toMatch(testCase.message);
      expect((failure as OAuthClientError).oauthError).toBe(testCase.oauthError);
      expect(log.pages[0]?.status).toBe(400);
      expect(log.pages[0]?.body).toContain("Sign-in failed");
      expect(log.tokenRequests).toEqual([]);
      expect(await isListening(redirectPort(log.urls[0]))).toBe(false);
    });
  }

  it("timeout ends the sign-in", async () => {
    const urls: URL[] = [];
    const oauth = new OAuthClient({
      serverUrl: harness.mcpUrl,
      store: new MemoryTokenStore(),
      authorizationTimeout: 0.3,
      onAuthorizationUrl: (url) => {
        urls.push(url);
      },
    });

    const failure = await oauth.authorize().catch((error: unknown) => error);

    expect(failure).toBeInstanceOf(OAuthClientError);
    expect((failure as OAuthClientError).code).toBe("ERR_MCP_OAUTH_CLIENT_TIMEOUT");
    expect((failure as OAuthClientError).message).toMatch(/No authorization response reached http:\/\/127\.0\.0\.1:\d+\/callback within 0\.3 s/);
    expect(urls).toHaveLength(1);
    expect(await isListening(redirectPort(urls[0]))).toBe(false);
  });

  it("close() cancels a sign-in in progress", async () => {
    let port = 0;
    const oauth = new OAuthClient({
      serverUrl: harness.mcpUrl,
      store: new MemoryTokenStore(),
      onAuthorizationUrl: (url) => {
        port = redirectPort(url);
        setTimeout(() => void oauth.close(), 10);
      },
    });

    const failure = await oauth.authorize().catch((error: unknown) => error);

    expect((failure as OAuthClientError).code).toBe("ERR_MCP_OAUTH_CLIENT_CANCELLED");
    expect(await isListening(port)).toBe(false);
  });
});

function withParam(url: URL, name: string, value: string | undefined): URL {
  const changed = new URL(url);
  if (value === undefined) {
    changed.searchParams.delete(name);
  } else {
    changed.searchParams.set(name, value);
  }
  return changed;
}
