import { AzureProvider } from "../../../lib/providers/azure.js";
import { GitHubProvider } from "../../../lib/providers/github.js";
import { GoogleProvider } from "../../../lib/providers/google.js";
import { OAuthProvider } from "../../../lib/providers/oauth.js";
import { OIDCProvider } from "../../../lib/providers/oidc.js";
import { Auth0Provider } from "../../../lib/providers/presets/auth0.js";
import { AuthentikProvider } from "../../../lib/providers/presets/authentik.js";
import { CognitoProvider } from "../../../lib/providers/presets/cognito.js";
import { KeycloakProvider } from "../../../lib/providers/presets/keycloak.js";
import { OktaProvider } from "../../../lib/providers/presets/okta.js";
import { WorkOSProvider } from "../../../lib/providers/presets/workos.js";
import { ZitadelProvider } from "../../../lib/providers/presets/zitadel.js";
import type { ContractUser } from "../../../lib/providers/contract.js";
import type { UpstreamProvider } from "../../../lib/providers/types.js";
import { startFakeEntra } from "./entra.js";
import { startFakeGitHub } from "./github.js";
import type { FakeGitHubOptions } from "./github.js";
import { startFakeGoogle } from "./google.js";
import type { FakeUser } from "./grants.js";
import { startFakeOidc } from "./oidc.js";
import type { FakeOidc, OidcProfile } from "./oidc.js";
import {
  AUTH0_DOMAIN,
  AUTH0_PROFILE,
  AUTHENTIK_DOMAIN,
  AUTHENTIK_PROFILE,
  COGNITO_POOL,
  COGNITO_PROFILE,
  GENERIC_PROFILE,
  KEYCLOAK_PROFILE,
  OKTA_DOMAIN,
  OKTA_PROFILE,
  WORKOS_DOMAIN,
  WORKOS_PROFILE,
  ZITADEL_DOMAIN,
  ZITADEL_PROFILE,
  ZITADEL_PROJECT,
} from "./presets.js";
import type { FakeServer, TokenFault } from "./server.js";

/** Options a test may change on the provider it creates. */
export interface ProviderOverrides {
  timeoutMs?: number;
  clientSecret?: string;
  /** Upstream scopes for the sign-in, replacing the provider's defaults where the provider allows it. */
  scopes?: string[];
}

/** A fake provider running for one redirect URI, and the real provider class configured for it. */
export interface RunningProvider {
  createProvider(overrides?: ProviderOverrides): UpstreamProvider;
  server: FakeServer;
  users: [ContractUser, ContractUser];
  /** Path of the fake's token endpoint. */
  tokenPath: string;
  failNextTokenRequest(fault: TokenFault): void;
  /** Ends every grant the fake issued, as a user removing the app would. */
  revokeAll(): void;
  /** Replaces the client secret the fake accepts, as an operator rotating it at the provider would. */
  changeClientSecret(secret: string): void;
  close(): Promise<void>;
}

/** One entry of the catalog: a provider class against the fake of its provider. */
export interface ProviderCase {
  name: string;
  /** Whether the provider issues refresh tokens to a default sign-in. */
  refreshTokens: boolean;
  /** Whether revoking reaches the provider. */
  revocation: boolean;
  start(redirectUri: string): Promise<RunningProvider>;
}

const CLIENT_ID = "mcp-proxy-client";
const CLIENT_SECRET = "fake-provider-secret";
// Entra client ids are GUIDs, and the Application ID URI defaults to api://<client id>.
const ENTRA_CLIENT_ID = "3f2504e0-4f89-41d3-9a0c-0305e82c3301";

function contractUsers(users: FakeUser[], withName = (user: FakeUser) => user.name as string | undefined): [ContractUser, ContractUser] {
  const [first, second] = users.map((user) => ({
    login: user.login,
    subject: user.subject,
    email: user.email,
    ...(withName(user) === undefined ? {} : { name: withName(user) }),
  }));
  if (first === undefined || second === undefined) {
    throw new Error("A fake needs two users");
  }
  return [first, second];
}

function gitHubCase(name: string, kind: FakeGitHubOptions["kind"]): ProviderCase {
  return {
    name,
    refreshTokens: kind === "github-app",
    revocation: true,
    async start(redirectUri) {
      const fakeOptions = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri, kind };
      const fake = await startFakeGitHub(fakeOptions);
      return {
        createProvider: (overrides = {}) => new GitHubProvider({
          clientId: CLIENT_ID,
          clientSecret: overrides.clientSecret ?? CLIENT_SECRET,
          baseUrl: fake.url,
          ...(overrides.scopes === undefined ? {} : { scopes: overrides.scopes }),
          ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
        }),
        server: fake.server,
        users: contractUsers(fake.users, (user) => fake.users.find((candidate) => candidate.login === user.login)?.displayName ?? undefined),
        tokenPath: "/login/oauth/access_token",
        failNextTokenRequest: (fault) => fake.faults.add(fault),
        revokeAll: () => fake.revokeAll(),
        changeClientSecret: (secret) => {
          fakeOptions.clientSecret = secret;
        },
        close: () => fake.close(),
      };
    },
  };
}

const googleCase: ProviderCase = {
  name: "GoogleProvider",
  refreshTokens: true,
  revocation: true,
  async start(redirectUri) {
    const fakeOptions = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri };
    const fake = await startFakeGoogle(fakeOptions);
    return {
      createProvider: (overrides = {}) => new GoogleProvider({
        clientId: CLIENT_ID,
        clientSecret: overrides.clientSecret ?? CLIENT_SECRET,
        endpoints: fake.endpoints,
        ...(overrides.scopes === undefined ? {} : { scopes: overrides.scopes }),
        ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
      }),
      server: fake.server,
      users: contractUsers(fake.users),
      tokenPath: "/token",
      failNextTokenRequest: (fault) => fake.faults.add(fault),
      revokeAll: () => fake.revokeAll(),
      changeClientSecret: (secret) => {
        fakeOptions.clientSecret = secret;
      },
      close: () => fake.close(),
    };
  },
};

const azureCase: ProviderCase = {
  name: "AzureProvider",
  refreshTokens: true,
  // Entra has no revocation endpoint.
  revocation: false,
  async start(redirectUri) {
    const fakeOptions = { clientId: ENTRA_CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri };
    const fake = await startFakeEntra(fakeOptions);
    return {
      createProvider: (overrides = {}) => new AzureProvider({
        tenant: "organizations",
        clientId: ENTRA_CLIENT_ID,
        clientSecret: overrides.clientSecret ?? CLIENT_SECRET,
        authorityHost: fake.url,
        scopes: overrides.scopes ?? ["files.read"],
        ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
      }),
      server: fake.server,
      users: contractUsers(fake.users),
      tokenPath: "/organizations/oauth2/v2.0/token",
      failNextTokenRequest: (fault) => fake.faults.add(fault),
      revokeAll: () => fake.revokeAll(),
      changeClientSecret: (secret) => {
        fakeOptions.clientSecret = secret;
      },
      close: () => fake.close(),
    };
  },
};

/**
 * Builds the case of a provider class based on discovery, run against the generic
 * fake configured with `profile`. `create` builds the provider from the running fake.
 */
function oidcCase(name: string, profile: OidcProfile, create: (fake: FakeOidc, options: { clientId: string; clientSecret: string; timeoutMs?: number; scopes?: string[] }) => UpstreamProvider): ProviderCase {
  return {
    name,
    refreshTokens: true,
    revocation: profile.paths.revocation !== undefined,
    async start(redirectUri) {
      const fakeOptions = { clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri };
      const fake = await startFakeOidc(profile, fakeOptions);
      return {
        createProvider: (overrides = {}) => create(fake, {
          clientId: CLIENT_ID,
          clientSecret: overrides.clientSecret ?? CLIENT_SECRET,
          ...(overrides.scopes === undefined ? {} : { scopes: overrides.scopes }),
          ...(overrides.timeoutMs === undefined ? {} : { timeoutMs: overrides.timeoutMs }),
        }),
        server: fake.server,
        users: contractUsers(profile.users),
        tokenPath: profile.paths.token,
        failNextTokenRequest: (fault) => fake.faults.add(fault),
        revokeAll: () => fake.revokeAll(),
        changeClientSecret: (secret) => {
          fakeOptions.clientSecret = secret;
        },
        close: () => fake.close(),
      };
    },
  };
}

/** Every provider class, each against the fake that speaks its provider's wire format. */
export const PROVIDER_CASES: ProviderCase[] = [
  gitHubCase("GitHubProvider (OAuth App)", "oauth-app"),
  gitHubCase("GitHubProvider (GitHub App)", "github-app"),
  googleCase,
  azureCase,
  oidcCase("OIDCProvider", GENERIC_PROFILE, (fake, options) => new OIDCProvider({ ...options, issuer: fake.issuer })),
  oidcCase("OAuthProvider", GENERIC_PROFILE, (fake, options) => new OAuthProvider({
    ...options,
    scopes: options.scopes ?? ["openid", "profile", "email"],
    authorizationEndpoint: `${fake.url}${GENERIC_PROFILE.paths.authorization}`,
    tokenEndpoint: `${fake.url}${GENERIC_PROFILE.paths.token}`,
    userinfoEndpoint: `${fake.url}${GENERIC_PROFILE.paths.userinfo}`,
    revocationEndpoint: `${fake.url}${GENERIC_PROFILE.paths.revocation}`,
  })),
  oidcCase("Auth0Provider", AUTH0_PROFILE, (fake, options) => new Auth0Provider({ ...options, domain: AUTH0_DOMAIN, audience: "https://api.example.test", discoveryUrl: fake.discoveryUrl })),
  oidcCase("OktaProvider", OKTA_PROFILE, (fake, options) => new OktaProvider({ ...options, domain: OKTA_DOMAIN, discoveryUrl: fake.discoveryUrl })),
  oidcCase("KeycloakProvider", KEYCLOAK_PROFILE, (fake, options) => new KeycloakProvider({ ...options, realmUrl: fake.issuer })),
  oidcCase("CognitoProvider", COGNITO_PROFILE, (fake, options) => new CognitoProvider({ ...options, userPoolId: COGNITO_POOL, discoveryUrl: fake.discoveryUrl })),
  oidcCase("WorkOSProvider", WORKOS_PROFILE, (fake, options) => new WorkOSProvider({ ...options, authkitDomain: WORKOS_DOMAIN, discoveryUrl: fake.discoveryUrl })),
  oidcCase("AuthentikProvider", AUTHENTIK_PROFILE, (fake, options) => new AuthentikProvider({ ...options, domain: AUTHENTIK_DOMAIN, applicationSlug: "mcp", discoveryUrl: fake.discoveryUrl })),
  oidcCase("ZitadelProvider", ZITADEL_PROFILE, (fake, options) => new ZitadelProvider({ ...options, domain: ZITADEL_DOMAIN, projectId: ZITADEL_PROJECT, discoveryUrl: fake.discoveryUrl })),
];
