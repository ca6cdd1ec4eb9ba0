/** The only Redis the benchmark uses: a local server. */
export const REDIS_URL = "redis://127.0.0.1:6379";
