import { parseForm } from "../../../examples/demo/browser.js";
import type { TestBrowser } from "../../../examples/demo/browser.js";

/** The PKCE pair of RFC 7636 Appendix B, for tests that drive a sign-in by hand. */
export const VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
export const CHALLENGE = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/**
 * Signs in at a fake provider's page, starting from `startUrl`, and returns the
 * first redirect target for which `stopAt` is true, without requesting it.
 * Redirects in between (such as the proxy's callback) are followed.
 */
export async function signInAtFake(browser: TestBrowser, startUrl: URL | string, login: string, stopAt: (url: URL) => boolean): Promise<URL> {
  let next = new URL(startUrl);

  for (let round = 0; round < 4; round++) {
    const page = await browser.follow(next, { until: stopAt });
    if (page.stopped) {
      return page.url;
    }
    if (!page.body.includes("<form")) {
      throw new Error(`Expected a sign-in page at ${page.url.href}, got status ${page.status}: ${page.body.slice(0, 300)}`);
    }

    const form = parseForm(page.body);
    const submitted = await browser.postForm(new URL(form.action, page.url), { ...form.fields, login });
    if (submitted.location === undefined) {
      throw new Error(`The sign-in form at ${page.url.href} answered ${submitted.status} without a redirect: ${submitted.body.slice(0, 300)}`);
    }
    next = new URL(submitted.location);
    if (stopAt(next)) {
      return next;
    }
  }
  throw new Error(`Sign-in starting at ${String(startUrl)} did not reach a URL matching stopAt`);
}
