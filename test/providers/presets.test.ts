import { afterAll, describe, expect, it } from "vitest";

import { TestBrowser } from "../../examples/demo/browser.js";
import { OptionError, UpstreamError } from "../../lib/errors.js";
import type { OIDCProvider } from "../../lib/providers/oidc.js";
import { Auth0Provider } from "../../lib/providers/presets/auth0.js";
import { AuthentikProvider } from "../../lib/providers/presets/authentik.js";
import { CognitoProvider } from "../../lib/providers/presets/cognito.js";
import { KeycloakProvider } from "../../lib/providers/presets/keycloak.js";
import { OktaProvider } from "../../lib/providers/presets/okta.js";
import { WorkOSProvider } from "../../lib/providers/presets/workos.js";
import { ZitadelProvider } from "../../lib/providers/presets/zitadel.js";
import type { UpstreamTokens } from "../../lib/providers/types.js";
import { CHALLENGE, signInAtFake, VERIFIER } from "./fakes/browser.js";
import { startFakeOidc } from "./fakes/oidc.js";
import type { FakeOidc, OidcProfile } from "./fakes/oidc.js";
import { COGNITO_POOL, COGNITO_PROFILE, KEYCLOAK_PROFILE, WORKOS_DOMAIN, WORKOS_PROFILE, ZITADEL_DOMAIN, ZITADEL_PROFILE } from "./fakes/presets.js";

const REDIRECT_URI = "http://127.0.0.1:9/oauth/callback";
const CLIENT = { clientId: "preset-client", clientSecret: "preset-secret" };
const fakes: FakeOidc[] = [];

afterAll(async () => {
  await Promise.all(fakes.map((fake) => fake.close()));
});

async function startFake(profile: OidcProfile): Promise<FakeOidc> {
  const fake = await startFakeOidc(profile, { ...CLIENT, redirectUri: REDIRECT_URI });
  fakes.push(fake);
  return fake;
}

async function signIn(provider: OIDCProvider): Promise<{ tokens: UpstreamTokens; callback: URL }> {
  const url = await provider.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: CHALLENGE, scopes: [] });
  const callback = await signInAtFake(new TestBrowser(), url, "alice", (next) => next.href.startsWith(REDIRECT_URI));
  const iss = callback.searchParams.get("iss");
  const tokens = await provider.exchangeCode({ code: callback.searchParams.get("code") ?? "", codeVerifier: VERIFIER, redirectUri: REDIRECT_URI, ...(iss === null ? {} : { iss }) });
  return { tokens, callback };
}

async function upstreamFailure(promise: Promise<unknown>): Promise<UpstreamError> {
  const error = await promise.then(() => undefined, (reason: unknown) => reason);
  expect(error).toBeInstanceOf(UpstreamError);
  return error as UpstreamError;
}

describe("preset issuers", () => {
  const cases: Array<[string, () => OIDCProvider, string, string]> = [
    ["Auth0 with a trailing slash", () => new Auth0Provider({ ...CLIENT, domain: "example.us.auth0.com" }), "https://example.us.auth0.com/", "https://example.us.auth0.com/.well-known/openid-configuration"],
    ["Auth0 from a URL", () => new Auth0Provider({ ...CLIENT, domain: "https://login.example.com/" }), "https://login.example.com/", "https://login.example.com/.well-known/openid-configuration"],
    ["Okta default server", () => new OktaProvider({ ...CLIENT, domain: "example.okta.com" }), "https://example.okta.com/oauth2/default", "https://example.okta.com/oauth2/default/.well-known/openid-configuration"],
    ["Okta custom server", () => new OktaProvider({ ...CLIENT, domain: "example.okta.com", authorizationServerId: "aus1a2b3c4" }), "https://example.okta.com/oauth2/aus1a2b3c4", "https://example.okta.com/oauth2/aus1a2b3c4/.well-known/openid-configuration"],
    ["Okta org server", () => new OktaProvider({ ...CLIENT, domain: "example.okta.com", authorizationServerId: null }), "https://example.okta.com", "https://example.okta.com/.well-known/openid-configuration"],
    ["Keycloak realm", () => new KeycloakProvider({ ...CLIENT, realmUrl: "https://sso.example.com/realms/acme/" }), "https://sso.example.com/realms/acme", "https://sso.example.com/realms/acme/.well-known/openid-configuration"],
    ["Keycloak legacy realm", () => new KeycloakProvider({ ...CLIENT, realmUrl: "https://sso.example.com/auth/realms/acme" }), "https://sso.example.com/auth/realms/acme", "https://sso.example.com/auth/realms/acme/.well-known/openid-configuration"],
    ["Cognito pool", () => new CognitoProvider({ ...CLIENT, region: "eu-west-1", userPoolId: "eu-west-1_AbCdEfGhI" }), "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI", "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbCdEfGhI/.well-known/openid-configuration"],
    ["Cognito region from the pool id", () => new CognitoProvider({ ...CLIENT, userPoolId: "us-gov-west-1_AbC123" }), "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_AbC123", "https://cognito-idp.us-gov-west-1.amazonaws.com/us-gov-west-1_AbC123/.well-known/openid-configuration"],
    ["WorkOS AuthKit", () => new WorkOSProvider({ ...CLIENT, authkitDomain: "example.authkit.app" }), "https://example.authkit.app", "https://example.authkit.app/.well-known/openid-configuration"],
    ["authentik application", () => new AuthentikProvider({ ...CLIENT, domain: "auth.example.com", applicationSlug: "mcp" }), "https://auth.example.com/application/o/mcp/", "https://auth.example.com/application/o/mcp/.well-known/openid-configuration"],
    ["ZITADEL instance", () => new ZitadelProvider({ ...CLIENT, domain: "example-abc123.zitadel.cloud" }), "https://example-abc123.zitadel.cloud", "https://example-abc123.zitadel.cloud/.well-known/openid-configuration"],
  ];

  for (const [label, create, issuer, discoveryUrl] of cases) {
    it(label, () => {
      const provider = create();

      expect(provider.issuer).toBe(issuer);
      expect(provider.discoveryUrl.href).toBe(discoveryUrl);
    });
  }

  it("names each preset", () => {
    expect(new Auth0Provider({ ...CLIENT, domain: "a.auth0.com" }).name).toBe("Auth0");
    expect(new CognitoProvider({ ...CLIENT, userPoolId: "eu-west-1_A1" }).name).toBe("Amazon Cognito");
    expect(new KeycloakProvider({ ...CLIENT, realmUrl: "https://sso.example.com/realms/a", name: "ACME SSO" }).name).toBe("ACME SSO");
  });
});

describe("preset options", () => {
  const invalid: Array<[string, () => unknown, string, RegExp]> = [
    ["Auth0 domain with a path", () => new Auth0Provider({ ...CLIENT, domain: "example.auth0.com/authorize" }), "domain", /without a path/],
    ["Auth0 empty audience", () => new Auth0Provider({ ...CLIENT, domain: "example.auth0.com", audience: "" }), "audience", /API identifier/],
    ["Okta domain over http", () => new OktaProvider({ ...CLIENT, domain: "http://example.okta.com" }), "domain", /https:\/\//],
    ["Okta server id with a slash", () => new OktaProvider({ ...CLIENT, domain: "example.okta.com", authorizationServerId: "a/b" }), "authorizationServerId", /without "\/"/],
    ["Keycloak server root", () => new KeycloakProvider({ ...CLIENT, realmUrl: "https://sso.example.com" }), "realmUrl", /ends in \/realms\/<realm name>/],
    ["Keycloak admin console", () => new KeycloakProvider({ ...CLIENT, realmUrl: "https://sso.example.com/admin/master/console/" }), "realmUrl", /realm URL/],
    ["Cognito pool id without region", () => new CognitoProvider({ ...CLIENT, userPoolId: "AbCdEfGhI" }), "userPoolId", /eu-west-1_AbCdEfGhI/],
    ["Cognito region mismatch", () => new CognitoProvider({ ...CLIENT, region: "us-east-1", userPoolId: "eu-west-1_AbCdEfGhI" }), "region", /belongs to eu-west-1/],
    ["authentik slug with a slash", () => new AuthentikProvider({ ...CLIENT, domain: "auth.example.com", applicationSlug: "a/b" }), "applicationSlug", /without "\/"/],
    ["ZITADEL project id with a space", () => new ZitadelProvider({ ...CLIENT, domain: "z.example.com", projectId: "1 2" }), "projectId", /without "\/" or spaces/],
    ["WorkOS domain missing", () => new WorkOSProvider({ ...CLIENT, authkitDomain: "" }), "authkitDomain", /host name/],
  ];

  for (const [label, create, option, message] of invalid) {
    it(`rejects ${label}`, () => {
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

describe("preset quirks", () => {
  it("Auth0 authorization URL carries its parameters", async () => {
    const fake = await startFake({ ...WORKOS_PROFILE, issuer: () => "https://example.us.auth0.com/" });
    const provider = new Auth0Provider({ ...CLIENT, domain: "example.us.auth0.com", audience: "https://api.example.test", organization: "org_123", discoveryUrl: fake.discoveryUrl });

    const url = await provider.authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.searchParams.get("audience")).toBe("https://api.example.test");
    expect(url.searchParams.get("organization")).toBe("org_123");
    expect(url.searchParams.get("scope")).toBe("openid profile email offline_access");
  });

  it("Keycloak requires and checks iss", async () => {
    const fake = await startFake(KEYCLOAK_PROFILE);
    const provider = new KeycloakProvider({ ...CLIENT, realmUrl: fake.issuer });
    const { callback } = await signIn(provider);

    expect(await provider.responseIssuer()).toBe(fake.issuer);
    expect(callback.searchParams.get("iss")).toBe(fake.issuer);
    const missing = await upstreamFailure(provider.exchangeCode({ code: "c", codeVerifier: VERIFIER, redirectUri: REDIRECT_URI }));
    expect(missing.message).toMatch(/no iss parameter/);
  });

  it("Cognito revokes the refresh token at /oauth2/revoke", async () => {
    const fake = await startFake(COGNITO_PROFILE);
    const provider = new CognitoProvider({ ...CLIENT, userPoolId: COGNITO_POOL, discoveryUrl: fake.discoveryUrl });
    const { tokens } = await signIn(provider);

    await provider.revoke(tokens);

    const request = fake.server.requestsTo("/oauth2/revoke")[0];
    expect(Object.fromEntries(request?.form ?? [])).toEqual({ token: tokens.refreshToken });
    expect(request?.headers.authorization).toMatch(/^Basic /);
    expect((await upstreamFailure(provider.refresh(tokens))).failure).toBe("invalid_grant");
  });

  it("Cognito skips revocation without a refresh token", async () => {
    const fake = await startFake(COGNITO_PROFILE);
    const provider = new CognitoProvider({ ...CLIENT, userPoolId: COGNITO_POOL, discoveryUrl: fake.discoveryUrl });
    const before = fake.server.requests.length;

    await provider.revoke({ accessToken: "a", tokenType: "Bearer", scopes: [] });

    expect(fake.server.requests.length).toBe(before);
  });

  it("Cognito rejects an ID token without token_use id", async () => {
    const fake = await startFake({ ...COGNITO_PROFILE, idTokenExtras: () => ({ claims: { token_use: "access" } }) });
    const provider = new CognitoProvider({ ...CLIENT, userPoolId: COGNITO_POOL, discoveryUrl: fake.discoveryUrl });
    const { tokens } = await signIn(provider);

    const error = await upstreamFailure(provider.identify(tokens));

    expect(error.message).toBe('The ID token from Amazon Cognito has token_use "access", not "id"');
  });

  it("Cognito explains a pool without a domain", async () => {
    const fake = await startFake({ ...COGNITO_PROFILE, omitFromDiscovery: ["authorization_endpoint"] });
    const provider = new CognitoProvider({ ...CLIENT, userPoolId: COGNITO_POOL, discoveryUrl: fake.discoveryUrl });

    const error = await upstreamFailure(provider.ready());

    expect(error.message).toMatch(/has no authorization_endpoint; add a domain to the user pool/);
  });

  it("Cognito asks for no offline_access", async () => {
    const url = await new CognitoProvider({ ...CLIENT, userPoolId: COGNITO_POOL, discoveryUrl: (await startFake(COGNITO_PROFILE)).discoveryUrl })
      .authorizationUrl({ redirectUri: REDIRECT_URI, state: "s", codeChallenge: "c", scopes: [] });

    expect(url.searchParams.get("scope")).toBe("openid email profile");
  });

  it("WorkOS authenticates with HTTP Basic", async () => {
    const fake = await startFake(WORKOS_PROFILE);
    await signIn(new WorkOSProvider({ ...CLIENT, authkitDomain: WORKOS_DOMAIN, discoveryUrl: fake.discoveryUrl }));

    const request = fake.server.requestsTo("/oauth2/token")[0];
    expect(request?.headers.authorization).toBe(`Basic ${Buffer.from(`${CLIENT.clientId}:${CLIENT.clientSecret}`).toString("base64")}`);
    expect(request?.form.has("client_secret")).toBe(false);
  });

  it("ZITADEL adds the project and organization scopes", async () => {
    const fake = await startFake(ZITADEL_PROFILE);
    const provider = new ZitadelProvider({ ...CLIENT, domain: ZITADEL_DOMAIN, projectId: "274187450373654531", organizationId: "274187450373654000", discoveryUrl: fake.discoveryUrl });

    const { tokens } = await signIn(provider);
    const identity = await provider.identify(tokens);

    expect(tokens.scopes).toEqual([
      "openid", "profile", "email", "offline_access",
      "urn:zitadel:iam:org:project:id:274187450373654531:aud", "urn:zitadel:iam:org:id:274187450373654000",
    ]);
    // The project audience makes the ID token multi-audience; its azp names the client.
    expect(identity.subject).toBe("274187450373654599");
  });
});
