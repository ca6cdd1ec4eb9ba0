import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { GitHubProvider } from "../../lib/providers/github.js";
import { AzureProvider } from "../../lib/providers/azure.js";
import { GoogleProvider } from "../../lib/providers/google.js";
import { PROVIDER_CASES } from "../providers/fakes/catalog.js";
import type { RunningProvider } from "../providers/fakes/catalog.js";
import { startFakeEntra } from "../providers/fakes/entra.js";
import type { FakeEntra } from "../providers/fakes/entra.js";
import { startFakeGitHub } from "../providers/fakes/github.js";
import type { FakeGitHub } from "../providers/fakes/github.js";
import { startFakeGoogle } from "../providers/fakes/google.js";
import type { FakeGoogle } from "../providers/fakes/google.js";
import { captureLogs, startProxyApp } from "../providers/fakes/proxy-app.js";
import type { ProxyApp, ProxyTokens } from "../providers/fakes/proxy-app.js";
import type { RecordedRequest } from "../providers/fakes/server.js";

const CLIENT_ID = "mcp-proxy-client";
const CLIENT_SECRET = "fake-provider-secret";
const ENTRA_CLIENT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

interface UpstreamView {
  upstream: { subject: string; claims: Record<string, unknown>; scopes: string[] };
}

function refreshGrant(clientId: string, tokens: ProxyTokens): Record<string, string> {
  return { grant_type: "refresh_token", refresh_token: tokens.refresh_token, client_id: clientId };
}

/** Lists every parameter name a request sent, in its query and its form or JSON body. */
function parameterNames(request: RecordedRequest): string[] {
  const names = [...request.query.keys(), ...request.form.keys()];
  if ((request.headers["content-type"] ?? "").includes("json") && request.body !== "") {
    names.push(...Object.keys(JSON.parse(request.body) as Record<string, unknown>));
  }
  return names;
}

describe.each(PROVIDER_CASES)("sign-in through the proxy with $name", (providerCase) => {
  let running: RunningProvider;
  let app: ProxyApp;
  const tokenRequests = () => running.server.requestsTo(running.tokenPath).length;

  beforeAll(async () => {
    app = await startProxyApp(async (callbackUrl) => {
      running = await providerCase.start(callbackUrl);
      return running.createProvider();
    });
  });

  afterAll(async () => {
    await app.close();
    await running.close();
  });

  it("signs in and reaches the MCP route", async () => {
    const [user] = running.users;
    const { tokens } = await app.signIn(user.login);
    const response = await app.callMcp(tokens.access_token);
    const body = await response.json() as UpstreamView;

    expect(response.status).toBe(200);
    expect(body.upstream.subject).toBe(user.subject);
    expect(body.upstream.claims.email).toBe(user.email);
  });

  it("never sends the client's resource upstream", async () => {
    await app.signIn(running.users[0].login);

    const carrying = running.server.requests.filter((request) => parameterNames(request).includes("resource"));
    expect(running.server.requests.length).toBeGreaterThan(0);
    expect(carrying).toEqual([]);
  });

  it("refreshes twice in a row", async () => {
    const { clientId, tokens } = await app.signIn(running.users[0].login);
    const before = tokenRequests();

    const first = await app.token(refreshGrant(clientId, tokens));
    const firstBody = await first.json() as ProxyTokens;
    const second = await app.token(refreshGrant(clientId, firstBody));

    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect((await app.callMcp((await second.json() as ProxyTokens).access_token)).status).toBe(200);
    // Upstream tokens are refreshed with each proxy refresh when the provider issued a refresh token.
    expect(tokenRequests() - before).toBe(providerCase.refreshTokens ? 2 : 0);
  });

  it("rejected client credentials are server_error", async () => {
    running.changeClientSecret("rotated-at-the-provider");
    try {
      const { callback } = await app.authorize(running.users[0].login);
      expect(callback.searchParams.get("error")).toBe("server_error");
      expect(callback.searchParams.get("state")).toBe("client-state");
    } finally {
      running.changeClientSecret(CLIENT_SECRET);
    }
  });

  it("revocation ends the grant", async () => {
    const { clientId, tokens } = await app.signIn(running.users[1].login);
    const before = running.server.requests.length;

    const response = await fetch(app.metadata.revocation_endpoint as string, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: tokens.refresh_token, client_id: clientId }).toString(),
    });

    expect(response.status).toBe(200);
    expect((await app.callMcp(tokens.access_token)).status).toBe(401);
    expect(running.server.requests.length > before).toBe(providerCase.revocation);
  });

  // Without an upstream refresh token (GitHub OAuth Apps) a proxy refresh makes no upstream call,
  // which "refreshes twice in a row" checks.
  if (!providerCase.refreshTokens) {
    return;
  }

  describe("upstream refresh failures", () => {
    it("503 is temporarily_unavailable and keeps the grant", async () => {
      const { clientId, tokens } = await app.signIn(running.users[0].login);
      running.failNextTokenRequest("outage");

      const failed = await app.token(refreshGrant(clientId, tokens));
      const retried = await app.token(refreshGrant(clientId, tokens));

      expect(failed.status).toBe(503);
      expect((await failed.json() as { error: string }).error).toBe("temporarily_unavailable");
      expect(retried.status).toBe(200);
      expect((await app.callMcp(tokens.access_token)).status).toBe(200);
    });

    it("invalid_grant ends the grant without another call", async () => {
      const { clientId, tokens } = await app.signIn(running.users[0].login);
      running.revokeAll();

      const failed = await app.token(refreshGrant(clientId, tokens));
      const requestsAfterFailure = running.server.requests.length;
      const retried = await app.token(refreshGrant(clientId, tokens));

      expect(failed.status).toBe(400);
      expect((await failed.json() as { error: string }).error).toBe("invalid_grant");
      expect(retried.status).toBe(400);
      expect((await retried.json() as { error: string }).error).toBe("invalid_grant");
      expect(running.server.requests.length).toBe(requestsAfterFailure);
      expect((await app.callMcp(tokens.access_token)).status).toBe(401);
    });

    it("invalid_client is server_error, and the log names the fix", async () => {
      const { clientId, tokens } = await app.signIn(running.users[0].login);
      running.changeClientSecret("rotated-at-the-provider");
      let response: globalThis.Response | undefined;

      const lines = await captureLogs("mcp-oauth-proxy:token", async () => {
        response = await app.token(refreshGrant(clientId, tokens));
      });
      running.changeClientSecret(CLIENT_SECRET);

      expect(response?.status).toBe(500);
      expect((await response?.json() as { error: string }).error).toBe("server_error");
      expect(lines.join("\n")).toMatch(/error=server_error detail=.*Check the clientId and clientSecret options/);
      expect((await app.token(refreshGrant(clientId, tokens))).status).toBe(200);
    });
  });
});

describe("GitHub through the proxy", () => {
  for (const tokenFormat of ["json", "form"] as const) {
    describe(`token endpoint answering ${tokenFormat}`, () => {
      let fake: FakeGitHub;
      let app: ProxyApp;

      beforeAll(async () => {
        app = await startProxyApp(async (callbackUrl) => {
          fake = await startFakeGitHub({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: callbackUrl, kind: "oauth-app", tokenFormat });
          return new GitHubProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, baseUrl: fake.url, scopes: ["repo", "user"] });
        });
      });

      afterAll(async () => {
        await app.close();
        await fake.close();
      });

      it("exchanges the code and splits repo,user", async () => {
        const { tokens } = await app.signIn("octocat");
        const body = await (await app.callMcp(tokens.access_token)).json() as UpstreamView;

        expect(body.upstream.scopes).toEqual(["repo", "user"]);
        expect(body.upstream.subject).toBe("583231");
        expect(body.upstream.claims).toMatchObject({ login: "octocat", name: "The Octocat", email: "octocat@github.test", email_verified: true });
      });
    });
  }
});

describe("Google through the proxy", () => {
  let fake: FakeGoogle;
  let app: ProxyApp;

  beforeAll(async () => {
    app = await startProxyApp(async (callbackUrl) => {
      fake = await startFakeGoogle({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: callbackUrl });
      return new GoogleProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, endpoints: fake.endpoints });
    });
  });

  afterAll(async () => {
    await app.close();
    await fake.close();
  });

  it("asks Google for offline access and consent", async () => {
    await app.signIn("ada");
    const authorize = fake.server.requestsTo("/o/oauth2/v2/auth").at(-1);

    expect(authorize?.query.get("access_type")).toBe("offline");
    expect(authorize?.query.get("prompt")).toBe("consent");
  });

  it("keeps the refresh token across two refreshes", async () => {
    const { clientId, tokens } = await app.signIn("ada");
    const before = fake.server.requestsTo("/token").length;

    const first = await app.token(refreshGrant(clientId, tokens));
    const second = await app.token(refreshGrant(clientId, await first.json() as ProxyTokens));

    const refreshes = fake.server.requestsTo("/token").slice(before).map((request) => request.form);
    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(refreshes.map((form) => form.get("grant_type"))).toEqual(["refresh_token", "refresh_token"]);
    // The second refresh sends the refresh token from the sign-in, kept because the first refresh response had none.
    expect(refreshes[0]?.get("refresh_token")).toMatch(/^1\/\//);
    expect(refreshes[1]?.get("refresh_token")).toBe(refreshes[0]?.get("refresh_token"));
  });
});

describe("Microsoft Entra through the proxy", () => {
  let fake: FakeEntra;
  let app: ProxyApp;

  beforeAll(async () => {
    app = await startProxyApp(async (callbackUrl) => {
      fake = await startFakeEntra({ clientId: ENTRA_CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: callbackUrl });
      return new AzureProvider({ tenant: "organizations", clientId: ENTRA_CLIENT_ID, clientSecret: CLIENT_SECRET, authorityHost: fake.url, scopes: ["files.read"] });
    }, {});
  });

  afterAll(async () => {
    await app.close();
    await fake.close();
  });

  it("sends no resource upstream and app-qualified scopes", async () => {
    const { clientId, tokens } = await app.signIn("megan", { scope: "files.write" });
    const refreshed = await app.token({ ...refreshGrant(clientId, tokens), resource: app.mcpUrl });
    const view = await (await app.callMcp((await refreshed.json() as ProxyTokens).access_token)).json() as UpstreamView;

    const authorize = fake.server.requests.find((request) => request.path.endsWith("/oauth2/v2.0/authorize"));
    const tokenCalls = fake.server.requests.filter((request) => request.path.endsWith("/oauth2/v2.0/token"));
    expect(refreshed.status).toBe(200);
    expect(tokenCalls.map((request) => request.form.get("grant_type"))).toEqual(["authorization_code", "refresh_token"]);
    expect(fake.server.requests.filter((request) => parameterNames(request).includes("resource"))).toEqual([]);
    expect(authorize?.query.get("scope")?.split(" ")).toEqual([
      "openid", "profile", "email", "offline_access", `api://${ENTRA_CLIENT_ID}/files.read`, `api://${ENTRA_CLIENT_ID}/files.write`,
    ]);
    expect(view.upstream.scopes).toEqual(["openid", "profile", "email", "files.read", "files.write"]);
    expect(view.upstream.claims).toMatchObject({ oid: fake.users[0]?.oid, tid: fake.users[0]?.tid, preferred_username: "megan@contoso.test", name: "Megan Bowen" });
  });
});
