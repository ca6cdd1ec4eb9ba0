import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { TestBrowser } from "../../examples/demo/browser.js";
import { OptionError, UpstreamError } from "../../lib/errors.js";
import { AzureProvider } from "../../lib/providers/azure.js";
import type { AzureProviderOptions } from "../../lib/providers/azure.js";
import type { UpstreamTokens } from "../../lib/providers/types.js";
import { CHALLENGE, signInAtFake, VERIFIER } from "./fakes/browser.js";
import { CONSUMERS_TENANT, CONTOSO_TENANT, startFakeEntra } from "./fakes/entra.js";
import type { FakeEntra } from "./fakes/entra.js";

const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";
const CLIENT = { clientId: "3f2504e0-4f89-41d3-9a0c-0305e82c3301", clientSecret: "entra-secret" };
const OTHER_TENANT = "0b0f3c6e-6b0a-4c5e-9d8f-1a2b3c4d5e6f";

let fake: FakeEntra;

beforeAll(async () => {
  fake = await startFakeEntra({ ...CLIENT, redirectUri: REDIRECT_URI });
});

afterAll(async () => {
  await fake.close();
});

function provider(options: Partial<AzureProviderOptions> = {}): AzureProvider {
  return new AzureProvider({ ...CLIENT, tenant: "organizations", authorityHost: fake.url, ...options });
}

async function signIn(azure: AzureProvider, login = "megan", scopes: string[] = []): Promise<UpstreamTokens> {
  const url = await azure.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: CHALLENGE, scopes });
  const callback = await signInAtFake(new TestBrowser(), url, login, (next) => next.href.startsWith(REDIRECT_URI));
  if (callback.searchParams.has("error")) {
    throw new Error(`Entra answered ${callback.searchParams.get("error")}: ${callback.searchParams.get("error_description")}`);
  }
  return azure.exchangeCode({ code: callback.searchParams.get("code") ?? "", codeVerifier: VERIFIER, redirectUri: REDIRECT_URI });
}

async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

/** Signs an ID token for tenant `tid`, issued by the tenant's own issuer unless `claims` sets `iss`. */
function idTokenFor(tid: string, claims: Record<string, unknown> = {}): UpstreamTokens {
  const idToken = fake.signIdToken({ iss: `${fake.url}/${tid}/v2.0`, aud: CLIENT.clientId, sub: "pairwise", oid: "11111111-2222-3333-4444-555555555555", tid, ...claims });
  return { accessToken: "a", tokenType: "Bearer", idToken, scopes: [] };
}

describe("AzureProvider authorization request", () => {
  it("builds the v2.0 URL and qualifies scopes", async () => {
    const azure = new AzureProvider({ ...CLIENT, tenant: "organizations", scopes: ["files.read"] });

    const url = await azure.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: ["files.write", "https://graph.microsoft.com/User.Read"] });

    expect(url.origin + url.pathname).toBe("https://login.microsoftonline.com/organizations/oauth2/v2.0/authorize");
    expect(url.searchParams.get("scope")?.split(" ")).toEqual([
      "openid", "profile", "email", "offline_access",
      `api://${CLIENT.clientId}/files.read`, `api://${CLIENT.clientId}/files.write`, "https://graph.microsoft.com/User.Read",
    ]);
    expect(url.searchParams.has("resource")).toBe(false);
  });

  it("uses applicationIdUri and scopeMap", async () => {
    const azure = provider({ applicationIdUri: "https://api.contoso.test/", scopes: ["read"], scopeMap: { "mcp:write": "api://legacy/write" } });

    const url = await azure.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: ["mcp:write"] });

    expect(url.searchParams.get("scope")).toBe("openid profile email offline_access https://api.contoso.test/read api://legacy/write");
  });

  const invalid: Array<[string, Partial<Record<keyof AzureProviderOptions, unknown>>, string, RegExp]> = [
    ["a tenant domain name", { tenant: "contoso.onmicrosoft.com" }, "tenant", /directory \(tenant\) id/],
    ["a missing tenant", { tenant: undefined }, "tenant", /organizations/],
    ["a resource parameter", { authorizationParams: { resource: "https://graph.microsoft.com" } }, "authorizationParams.resource", /take scopes, not resource/],
    ["an authorityHost with a path", { authorityHost: "https://login.microsoftonline.com/common" }, "authorityHost", /origin only/],
    ["allowedTenants that are not GUIDs", { allowedTenants: ["contoso"] }, "allowedTenants", /GUIDs/],
    ["an unknown subjectClaim", { subjectClaim: "email" }, "subjectClaim", /"oid" or "sub"/],
    ["a scope string", { scopes: "files.read" }, "scopes", /array/],
  ];
  for (const [label, change, option, message] of invalid) {
    it(`rejects ${label}`, () => {
      const create = () => new AzureProvider({ ...CLIENT, tenant: "common", ...change } as AzureProviderOptions);

      expect(create).toThrow(OptionError);
      expect(create).toThrow(message);
      try {
        create();
      } catch (error) {
        expect((error as OptionError).option).toBe(option);
      }
    });
  }
});

describe("AzureProvider tokens", () => {
  it("maps granted scopes back to the app's names", async () => {
    const tokens = await signIn(provider({ scopes: ["files.read"] }));

    expect(tokens.scopes).toEqual(["openid", "profile", "email", "files.read"]);
  });

  it("refresh sends no resource and rotates the refresh token", async () => {
    const azure = provider();
    const tokens = await signIn(azure);

    const refreshed = await azure.refresh(tokens);

    const request = fake.server.requests.filter((entry) => entry.path === "/organizations/oauth2/v2.0/token").at(-1);
    expect(Object.fromEntries(request?.form ?? [])).toEqual({ grant_type: "refresh_token", refresh_token: tokens.refreshToken, client_id: CLIENT.clientId, client_secret: CLIENT.clientSecret });
    expect(refreshed.refreshToken).not.toBe(tokens.refreshToken);
  });

  for (const code of ["interaction_required", "consent_required"]) {
    it(`treats ${code} on refresh as invalid_grant`, async () => {
      const azure = provider();
      const tokens = await signIn(azure);
      fake.failNextRefresh(code);

      const error = await upstreamFailure(azure.refresh(tokens));

      expect(error.failure).toBe("invalid_grant");
      expect(error.upstreamError).toBe(code);
      expect(error.message).toMatch(/must sign in again/);
    });
  }

  it("treats temporarily_unavailable as unavailable", async () => {
    const azure = provider();
    const tokens = await signIn(azure);
    fake.failNextRefresh("temporarily_unavailable");

    expect((await upstreamFailure(azure.refresh(tokens))).failure).toBe("unavailable");
  });

  it("revoke sends nothing", async () => {
    const azure = provider();
    const tokens = await signIn(azure);
    const before = fake.server.requests.length;

    await azure.revoke(tokens);

    expect(fake.server.requests.length).toBe(before);
  });
});

describe("AzureProvider identity", () => {
  it("reads oid, tid and profile claims", async () => {
    const azure = provider();
    const identity = await azure.identify(await signIn(azure, "adele"));

    expect(identity.subject).toBe("11111111-1111-1111-a1b2-c3d4e5f60718");
    expect(identity.claims).toMatchObject({
      oid: "11111111-1111-1111-a1b2-c3d4e5f60718",
      tid: CONTOSO_TENANT,
      preferred_username: "adele@contoso.test",
      name: "Adele Vance",
      email: "adele@contoso.test",
    });
    for (const plumbing of ["iss", "aud", "aio", "rh", "uti", "ver", "nbf"]) {
      expect(identity.claims).not.toHaveProperty(plumbing);
    }
  });

  it("uses sub with subjectClaim sub", async () => {
    const azure = provider({ subjectClaim: "sub" });
    const identity = await azure.identify(await signIn(azure));

    expect(identity.subject).toBe("pairwise-00000000-0000-0000-66f3-3332eca7ea81");
  });

  const admitted: Array<[string, Partial<AzureProviderOptions>, string]> = [
    ["common admits personal accounts", { tenant: "common" }, CONSUMERS_TENANT],
    ["consumers admits personal accounts", { tenant: "consumers" }, CONSUMERS_TENANT],
    ["a tenant id admits its users", { tenant: CONTOSO_TENANT.toUpperCase() }, CONTOSO_TENANT],
    ["allowedTenants admits listed tenants", { tenant: "organizations", allowedTenants: [OTHER_TENANT] }, OTHER_TENANT],
  ];
  for (const [label, options, tid] of admitted) {
    it(label, async () => {
      const identity = await provider(options).identify(idTokenFor(tid));

      expect(identity.claims.tid).toBe(tid);
    });
  }

  const rejected: Array<[string, Partial<AzureProviderOptions>, () => UpstreamTokens, RegExp]> = [
    ["organizations rejects personal accounts", { tenant: "organizations" }, () => idTokenFor(CONSUMERS_TENANT), /which the tenant and allowedTenants options do not admit/],
    ["consumers rejects work accounts", { tenant: "consumers" }, () => idTokenFor(CONTOSO_TENANT), /do not admit/],
    ["a tenant id rejects other tenants", { tenant: CONTOSO_TENANT }, () => idTokenFor(OTHER_TENANT), /jwt issuer invalid/],
    ["allowedTenants rejects unlisted tenants", { tenant: "common", allowedTenants: [OTHER_TENANT] }, () => idTokenFor(CONTOSO_TENANT), /do not admit/],
    ["an issuer of another tenant", { tenant: "common" }, () => idTokenFor(CONTOSO_TENANT, { iss: `${fake.url}/${OTHER_TENANT}/v2.0` }), /not by its tenant's issuer/],
    ["a token without tid", { tenant: "common" }, () => idTokenFor(CONTOSO_TENANT, { tid: undefined }), /no tenant id/],
    ["another audience", { tenant: "common" }, () => idTokenFor(CONTOSO_TENANT, { aud: "00000003-0000-0000-c000-000000000000" }), /jwt audience invalid/],
  ];
  for (const [label, options, tokens, message] of rejected) {
    it(`rejects: ${label}`, async () => {
      const error = await upstreamFailure(provider(options).identify(tokens()));

      expect(error.failure).toBe("protocol");
      expect(error.message).toMatch(message);
    });
  }
});
