import autocannon from "autocannon";
import type { Options, Request } from "autocannon";

/** Connections autocannon keeps open in every load test. */
export const CONNECTIONS = 10;

/** One bounded load test, summarized. */
export interface LoadResult {
  /** Successful responses divided by the time from the start to the last response. */
  requestsPerSecond: number;
  /** 99th percentile latency in milliseconds. */
  p99Ms: number;
  /** Successful responses. */
  responses: number;
}

/** Load settings: either `durationSeconds` or `amount` bounds the test. */
export interface LoadOptions {
  url: string;
  method?: "GET" | "POST";
  headers?: Record<string, string>;
  durationSeconds?: number;
  /** Total requests; the test ends after this many responses. */
  amount?: number;
  /** Builds each request's body, for requests that cannot repeat (codes, rotating refresh tokens). */
  nextBody?: () => string;
  /** Sees every response body, for example to collect the next refresh token. */
  onResponse?: (status: number, body: string) => void;
}

/**
 * Runs autocannon against `url` with {@link CONNECTIONS} connections and no pipelining, and
 * throws when any response was not 2xx or any request failed, so a broken setup never
 * passes for a fast one.
 */
export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  let firstFailure: string | undefined;
  let lastResponseAt = 0;
  const request: Request = {
    method: options.method ?? "GET",
    ...(options.nextBody === undefined ? {} : { setupRequest: (req: Request) => ({ ...req, body: options.nextBody?.() }) }),
    onResponse: (status: number, body: string) => {
      if ((status < 200 || status > 299) && firstFailure === undefined) {
        firstFailure = `${status} ${body.slice(0, 300)}`;
      }
      lastResponseAt = performance.now();
      options.onResponse?.(status, body);
    },
  };
  const settings: Options = {
    url: options.url,
    connections: CONNECTIONS,
    pipelining: 1,
    timeout: 10,
    headers: options.headers ?? {},
    requests: [request],
    ...(options.amount === undefined ? { duration: options.durationSeconds ?? 5 } : { amount: options.amount }),
  };

  // autocannon ends a test on its one-second ticker, so its own duration is too long for a short fixed-amount test.
  const startedAt = performance.now();
  const result = await autocannon(settings);
  if (result.non2xx > 0 || result.errors > 0) {
    throw new Error(`Load on ${options.url} had ${result.non2xx} non-2xx responses and ${result.errors} errors; first failure: ${firstFailure ?? "(none recorded)"}`);
  }
  return {
    requestsPerSecond: result["2xx"] / ((lastResponseAt - startedAt) / 1000),
    p99Ms: result.latency.p99,
    responses: result["2xx"],
  };
}
