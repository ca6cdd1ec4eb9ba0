import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import { originOption, segmentOption } from "./origin.js";

/** Options for `AuthentikProvider`. */
export interface AuthentikProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /** Host of the authentik server, such as "auth.example.com". */
  domain: string;
  /** Slug of the authentik application that uses the OAuth2/OpenID provider, such as "mcp". */
  applicationSlug: string;
}

/**
 * Sign-in with authentik: OIDC discovery on the per-application issuer
 * `https://<domain>/application/o/<slug>/` (with a trailing slash), and
 * `offline_access` for a refresh token.
 *
 * @example
 * const provider = new AuthentikProvider({ domain: "auth.example.com", applicationSlug: "mcp", clientId, clientSecret });
 */
export class AuthentikProvider extends OIDCProvider {
  constructor(options: AuthentikProviderOptions) {
    const origin = originOption("domain", options?.domain, "auth.example.com");
    const slug = segmentOption("applicationSlug", options?.applicationSlug, "mcp");
    super({ ...options, issuer: `${origin}/application/o/${slug}/` }, {
      name: "authentik",
      scopes: ["openid", "profile", "email", "offline_access"],
    });
  }
}
