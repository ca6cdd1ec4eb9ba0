import type { ClientMetadataResolver } from "./client-metadata/resolver.js";
import type { ClientIdSealer } from "./core/client-id.js";
import type { DerivedKeys } from "./core/keys.js";
import type { AccessTokenKeySet } from "./core/signing-keys.js";
import type { VerifiedTokenCache } from "./core/token-cache.js";
import type { ResolvedOptions } from "./options.js";
import type { GrantRecord } from "./records.js";
import type { Storage } from "./storage/types.js";

/** Paths and absolute URLs of the proxy's endpoints. */
export interface Endpoints {
  authorizationServerMetadataPath: string;
  authorize: Endpoint;
  consent: Endpoint;
  callback: Endpoint;
  token: Endpoint;
  register: Endpoint;
  revoke: Endpoint;
  /** Served only when tokens are signed with RS256 or ES256. */
  jwks: Endpoint | undefined;
  /** Served only when the `introspection` option lists callers. */
  introspect: Endpoint | undefined;
}

export interface Endpoint {
  path: string;
  url: string;
}

/** Everything a handler needs, built once by `oauthProxy()`. */
export interface ProxyContext {
  options: ResolvedOptions;
  /** The configured storage, wrapped in encryption unless it encrypts itself. */
  storage: Storage;
  keys: DerivedKeys;
  /** The keys that sign and verify access tokens. */
  signingKeys: AccessTokenKeySet;
  /** Access tokens whose signature was already checked. */
  verifiedTokens: VerifiedTokenCache;
  /** Keys derived from older secrets during a rotation: accepted, never used to sign or encrypt. */
  previousKeys: DerivedKeys[];
  endpoints: Endpoints;
  /** Seals and opens client ids, so registrations need no stored record. */
  clientIds: ClientIdSealer;
  /** Resolves URL client ids to their Client ID Metadata Documents; `undefined` when the feature is off. */
  clientMetadata?: ClientMetadataResolver;
  /** Upstream refreshes in flight in this process, by grant id. */
  upstreamRefreshes: Map<string, Promise<GrantRecord>>;
}

/** Computes endpoint paths under the issuer's path. */
export function buildEndpoints(options: ResolvedOptions): Endpoints {
  const endpoint = (suffix: string): Endpoint => {
    const path = `${options.basePath}/oauth/${suffix}`;
    return { path, url: options.origin + path };
  };

  return {
    // RFC 8414 §3.1: the issuer's path goes after the well-known segment.
    authorizationServerMetadataPath: `/.well-known/oauth-authorization-server${options.basePath}`,
    authorize: endpoint("authorize"),
    consent: endpoint("consent"),
    callback: endpoint("callback"),
    token: endpoint("token"),
    register: endpoint("register"),
    revoke: endpoint("revoke"),
    jwks: options.jwt.algorithm === "HS256" ? undefined : endpoint("jwks"),
    introspect: options.introspection === undefined ? undefined : endpoint("introspect"),
  };
}
