import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import { originOption, segmentOption } from "./origin.js";

/** Options for `OktaProvider`. */
export interface OktaProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /** The Okta domain, such as "example.okta.com". */
  domain: string;
  /**
   * Id of the custom authorization server; defaults to "default". `null` selects the
   * org authorization server, whose tokens are meant for Okta's own APIs.
   */
  authorizationServerId?: string | null;
}

/**
 * Sign-in with Okta: OIDC discovery on a custom authorization server
 * (`https://<domain>/oauth2/<id>`) or the org one (`https://<domain>`), with
 * `offline_access` for a refresh token.
 *
 * @example
 * const provider = new OktaProvider({ domain: "example.okta.com", clientId, clientSecret });
 */
export class OktaProvider extends OIDCProvider {
  constructor(options: OktaProviderOptions) {
    const origin = originOption("domain", options?.domain, "example.okta.com");
    const serverId = options?.authorizationServerId === undefined ? "default" : options.authorizationServerId;
    const issuer = serverId === null ? origin : `${origin}/oauth2/${segmentOption("authorizationServerId", serverId, "default")}`;
    super({ ...options, issuer }, { name: "Okta", scopes: ["openid", "profile", "email", "offline_access"] });
  }
}
