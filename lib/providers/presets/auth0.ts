import { OptionError } from "../../errors.js";
import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import { originOption } from "./origin.js";

/** Options for `Auth0Provider`. */
export interface Auth0ProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /** The tenant's domain, such as "example.us.auth0.com", or its custom domain. */
  domain: string;
  /**
   * Identifier of an Auth0 API. Without it Auth0 issues an access token that is
   * good only for its own userinfo endpoint, not for your API.
   */
  audience?: string;
  /** Organization id or name, to sign users in to one Auth0 Organization. */
  organization?: string;
}

/**
 * Sign-in with Auth0: OIDC discovery on `https://<domain>/` (Auth0's issuer ends
 * with a slash), the `audience` parameter, and `offline_access` for a refresh token.
 *
 * @example
 * const provider = new Auth0Provider({ domain: "example.us.auth0.com", clientId, clientSecret, audience: "https://api.example.com" });
 */
export class Auth0Provider extends OIDCProvider {
  constructor(options: Auth0ProviderOptions) {
    const params: Record<string, string> = {};
    for (const name of ["audience", "organization"] as const) {
      const value = options?.[name];
      if (value !== undefined && (typeof value !== "string" || value === "")) {
        throw new OptionError(name, value, `Set it to the Auth0 ${name === "audience" ? "API identifier" : "organization id or name"}, or leave it out.`);
      }
      if (value !== undefined) {
        params[name] = value;
      }
    }

    super({ ...options, issuer: `${originOption("domain", options?.domain, "example.us.auth0.com")}/` }, {
      name: "Auth0",
      scopes: ["openid", "profile", "email", "offline_access"],
      authorizationParams: params,
    });
  }
}
