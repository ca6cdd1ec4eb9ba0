export { oauthProxy } from "./proxy.js";
export type { OAuthProxy } from "./proxy.js";
export type { OAuthProxyOptions, RateLimit, RateLimitOptions } from "./options.js";
export type { ClientIdMetadataDocumentOptions, HostLookup, ResolvedAddress } from "./client-metadata/options.js";
export type { AuthInfo, BearerOptions, UpstreamInfo } from "./bearer.js";
export type { AuthorizationServerMetadata } from "./metadata.js";
export { createTokenVerifier } from "./verifier.js";
export type { TokenVerifier, TokenVerifierOptions, VerifierMiddlewareOptions } from "./verifier.js";
export { TokenVerificationError } from "./core/jwt.js";
export type { SigningAlgorithm, TokenFailure } from "./core/jwt.js";
export type { PublicJwk, SigningKeyInput } from "./core/signing-keys.js";
export type { IntrospectionClient, IntrospectionOptions, JwtOptions } from "./signing-options.js";
export {
  OAuthError,
  OptionError,
  UpstreamError,
} from "./errors.js";
export type { UpstreamFailure } from "./errors.js";
export { AuthorizationCodeProvider, OAuthProvider } from "./providers/oauth.js";
export type { OAuthProviderOptions, ProviderEndpoints, TokenGrant } from "./providers/oauth.js";
export type { ClientAuthentication, ClientOptions, EndpointOverrides } from "./providers/options.js";
export { OIDCProvider } from "./providers/oidc.js";
export type { OIDCProviderOptions } from "./providers/oidc.js";
export { GitHubProvider } from "./providers/github.js";
export type { GitHubProviderOptions } from "./providers/github.js";
export { GoogleProvider } from "./providers/google.js";
export type { GoogleProviderOptions } from "./providers/google.js";
export { AzureProvider } from "./providers/azure.js";
export type { AzureProviderOptions } from "./providers/azure.js";
export { Auth0Provider } from "./providers/presets/auth0.js";
export type { Auth0ProviderOptions } from "./providers/presets/auth0.js";
export { OktaProvider } from "./providers/presets/okta.js";
export type { OktaProviderOptions } from "./providers/presets/okta.js";
export { KeycloakProvider } from "./providers/presets/keycloak.js";
export type { KeycloakProviderOptions } from "./providers/presets/keycloak.js";
export { CognitoProvider } from "./providers/presets/cognito.js";
export type { CognitoProviderOptions } from "./providers/presets/cognito.js";
export { WorkOSProvider } from "./providers/presets/workos.js";
export type { WorkOSProviderOptions } from "./providers/presets/workos.js";
export { AuthentikProvider } from "./providers/presets/authentik.js";
export type { AuthentikProviderOptions } from "./providers/presets/authentik.js";
export { ZitadelProvider } from "./providers/presets/zitadel.js";
export type { ZitadelProviderOptions } from "./providers/presets/zitadel.js";
export { runProviderContract } from "./providers/contract.js";
export type { ContractUser, ProviderContractFixture, ProviderContractTestApi, TokenFault } from "./providers/contract.js";
export type {
  AuthorizationUrlParams,
  CodeExchangeParams,
  UpstreamIdentity,
  UpstreamProvider,
  UpstreamTokens,
} from "./providers/types.js";
export { MemoryStore } from "./storage/memory.js";
export { EncryptedStore } from "./storage/encrypted.js";
export { DiskStore } from "./storage/disk.js";
export type { DiskStoreOptions } from "./storage/disk.js";
export { RedisStore } from "./storage/redis.js";
export type { RedisStoreOptions } from "./storage/redis.js";
export { runStorageContract } from "./storage/contract.js";
export type { Storage } from "./storage/types.js";
