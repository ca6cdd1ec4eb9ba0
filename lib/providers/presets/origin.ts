import { OptionError } from "../../errors.js";
import { endpointProblem } from "../options.js";

/**
 * Reads a host option such as "example.us.auth0.com" or "https://example.us.auth0.com/"
 * and returns its https origin, without a trailing slash.
 */
export function originOption(option: string, value: unknown, example: string): string {
  const withScheme = typeof value === "string" && !value.includes("://") ? `https://${value}` : value;
  const problem = endpointProblem(withScheme);
  if (problem !== undefined) {
    throw new OptionError(option, value, `Set it to the host name, such as "${example}". ${problem}`);
  }

  const url = new URL(withScheme as string);
  if (url.pathname !== "/" || url.search !== "") {
    throw new OptionError(option, value, `Set the host name only, without a path, such as "${example}".`);
  }
  return url.origin;
}

/** Reads a path segment option (realm, application slug, user pool id) that must not contain "/". */
export function segmentOption(option: string, value: unknown, example: string): string {
  if (typeof value !== "string" || !/^[A-Za-z0-9._~-]+$/.test(value)) {
    throw new OptionError(option, value, `Set it to a name such as "${example}", without "/" or spaces.`);
  }
  return value;
}
