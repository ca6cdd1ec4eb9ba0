import { OptionError } from "../../errors.js";
import { OIDCProvider } from "../oidc.js";
import type { OIDCProviderOptions } from "../oidc.js";
import { issuerOption } from "../options.js";

/** Options for `KeycloakProvider`. */
export interface KeycloakProviderOptions extends Omit<OIDCProviderOptions, "issuer"> {
  /**
   * URL of the realm, such as "https://sso.example.com/realms/acme" (Keycloak 17 and
   * later) or "https://sso.example.com/auth/realms/acme" (older releases).
   */
  realmUrl: string;
}

/**
 * Sign-in with Keycloak: OIDC discovery on the realm URL, which is the realm's
 * issuer. Keycloak sends the RFC 9207 `iss` parameter, which the proxy then requires.
 *
 * @example
 * const provider = new KeycloakProvider({ realmUrl: "https://sso.example.com/realms/acme", clientId, clientSecret });
 */
export class KeycloakProvider extends OIDCProvider {
  constructor(options: KeycloakProviderOptions) {
    super({ ...options, issuer: realmUrlOption(options?.realmUrl) }, { name: "Keycloak" });
  }
}

// The admin console URL and the server root are common mistakes; both lack the realm segment.
function realmUrlOption(value: unknown): string {
  const url = issuerOption("realmUrl", value);
  if (!/\/realms\/[^/]+$/.test(new URL(url).pathname.replace(/\/$/, ""))) {
    throw new OptionError("realmUrl", value, "Set it to the realm URL, which ends in /realms/<realm name>, such as https://sso.example.com/realms/acme.");
  }
  return url.replace(/\/$/, "");
}
