import type { Endpoints } from "./context.js";
import type { ResolvedOptions, ResourceConfig } from "./options.js";

/** RFC 8414 authorization server metadata, as the proxy publishes it. */
export interface AuthorizationServerMetadata {
  issuer: string;
  authorization_endpoint: string;
  token_endpoint: string;
  registration_endpoint: string;
  revocation_endpoint: string;
  response_types_supported: string[];
  response_modes_supported: string[];
  grant_types_supported: string[];
  token_endpoint_auth_methods_supported: string[];
  revocation_endpoint_auth_methods_supported: string[];
  code_challenge_methods_supported: string[];
  authorization_response_iss_parameter_supported: boolean;
  scopes_supported?: string[];
  jwks_uri?: string;
  introspection_endpoint?: string;
  introspection_endpoint_auth_methods_supported?: string[];
  client_id_metadata_document_supported?: boolean;
}

const CLIENT_AUTH_METHODS = ["none", "client_secret_basic", "client_secret_post"];

/** Builds the authorization server metadata document; RFC 8414 §2 requires empty lists to be left out. */
export function buildAuthorizationServerMetadata(options: ResolvedOptions, endpoints: Endpoints): AuthorizationServerMetadata {
  const metadata: AuthorizationServerMetadata = {
    issuer: options.issuer,
    authorization_endpoint: endpoints.authorize.url,
    token_endpoint: endpoints.token.url,
    registration_endpoint: endpoints.register.url,
    revocation_endpoint: endpoints.revoke.url,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    // Listed explicitly: an omitted grant_types_supported means "implicit too" (RFC 8414 §2).
    grant_types_supported: ["authorization_code", "refresh_token"],
    token_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    revocation_endpoint_auth_methods_supported: CLIENT_AUTH_METHODS,
    code_challenge_methods_supported: options.allowPlainPkce ? ["S256", "plain"] : ["S256"],
    authorization_response_iss_parameter_supported: true,
  };
  if (options.scopes.length > 0) {
    metadata.scopes_supported = options.scopes;
  }
  if (options.clientIdMetadataDocuments !== undefined) {
    metadata.client_id_metadata_document_supported = true;
  }
  if (endpoints.jwks !== undefined) {
    metadata.jwks_uri = endpoints.jwks.url;
  }
  if (endpoints.introspect !== undefined) {
    metadata.introspection_endpoint = endpoints.introspect.url;
    metadata.introspection_endpoint_auth_methods_supported = ["client_secret_basic", "client_secret_post"];
  }
  return metadata;
}

/** Builds the RFC 9728 protected resource metadata document for one resource. */
export function buildProtectedResourceMetadata(options: ResolvedOptions, resource: Pick<ResourceConfig, "url">): Record<string, unknown> {
  const metadata: Record<string, unknown> = {
    resource: resource.url,
    authorization_servers: [options.issuer],
    bearer_methods_supported: ["header"],
  };
  if (options.scopes.length > 0) {
    metadata.scopes_supported = options.scopes;
  }
  if (options.resourceName !== undefined) {
    metadata.resource_name = options.resourceName;
  }
  return metadata;
}
