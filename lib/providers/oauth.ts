import { AuthorizationCodeProvider } from "./authorization-code.js";
import type { ProviderEndpoints } from "./authorization-code.js";
import { endpointOption, issuerOption, optionalEndpointOption } from "./options.js";
import type { ClientOptions } from "./options.js";

export { AuthorizationCodeProvider, withDetails } from "./authorization-code.js";
export type { ProviderEndpoints, TokenGrant } from "./authorization-code.js";
export { endpointOption, endpointProblem, issuerOption } from "./options.js";
export type { ClientAuthentication, ClientOptions, ClientSettings, EndpointOverrides } from "./options.js";

/** Options for `OAuthProvider`: a plain OAuth 2.0 provider with explicit endpoints. */
export interface OAuthProviderOptions extends Omit<ClientOptions, "endpoints"> {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  /** Endpoint returning the signed-in user as JSON; `identify` needs it. */
  userinfoEndpoint?: string;
  /** RFC 7009 revocation endpoint; without it `revoke` does nothing. */
  revocationEndpoint?: string;
  /** The provider's issuer identifier; setting it requires and checks the RFC 9207 `iss` response parameter. */
  issuer?: string;
}

/**
 * An upstream OAuth 2.0 provider with explicitly configured endpoints.
 *
 * @example
 * const provider = new OAuthProvider({
 *   clientId: "proxy",
 *   clientSecret: process.env.UPSTREAM_CLIENT_SECRET,
 *   authorizationEndpoint: "https://login.example.com/oauth2/authorize",
 *   tokenEndpoint: "https://login.example.com/oauth2/token",
 *   userinfoEndpoint: "https://login.example.com/oauth2/userinfo",
 * });
 */
export class OAuthProvider extends AuthorizationCodeProvider {
  protected readonly issuer: string | undefined;
  private readonly configuredEndpoints: ProviderEndpoints;

  constructor(options: OAuthProviderOptions) {
    super(options);
    this.configuredEndpoints = {
      authorizationEndpoint: endpointOption("authorizationEndpoint", options.authorizationEndpoint),
      tokenEndpoint: endpointOption("tokenEndpoint", options.tokenEndpoint),
      userinfoEndpoint: optionalEndpointOption("userinfoEndpoint", options.userinfoEndpoint),
      revocationEndpoint: optionalEndpointOption("revocationEndpoint", options.revocationEndpoint),
    };
    this.issuer = options.issuer === undefined ? undefined : issuerOption("issuer", options.issuer);
  }

  protected async defaultEndpoints(): Promise<ProviderEndpoints> {
    return this.configuredEndpoints;
  }

  async responseIssuer(): Promise<string | undefined> {
    return this.issuer;
  }
}
