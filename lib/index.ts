export { oauthProxy } from "./proxy.js";
export type { OAuthProxy } from "./proxy.js";
export type { OAuthProxyOptions } from "./options.js";
export type { AuthInfo, BearerOptions, UpstreamInfo } from "./bearer.js";
export type { AuthorizationServerMetadata } from "./metadata.js";
export {
  OAuthError,
  OptionError,
  UpstreamError,
} from "./errors.js";
export type { UpstreamFailure } from "./errors.js";
export { OAuthProvider } from "./providers/oauth.js";
export { OIDCProvider } from "./providers/oidc.js";
export type {
  AuthorizationUrlParams,
  CodeExchangeParams,
  UpstreamIdentity,
  UpstreamProvider,
  UpstreamTokens,
} from "./providers/types.js";
export { MemoryStore } from "./storage/memory.js";
export { EncryptedStore } from "./storage/encrypted.js";
export { runStorageContract } from "./storage/contract.js";
export type { Storage } from "./storage/types.js";
