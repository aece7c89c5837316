/** `enclave-broker --help`. */
export const HELP = `Usage: enclave-broker [options]

Serves an enclave-broker over HTTP: POST /execute runs JavaScript in a QuickJS sandbox and
streams its events as NDJSON.

Options:
  -p, --port <n>            Port to listen on (default: $PORT or 3001; 0 picks a free one)
  -H, --host <host>         Address to bind (default: $HOST or every interface)
      --redis-url <url>     Keep sessions in Redis (ioredis), e.g. redis://127.0.0.1:6379
                            (default: $REDIS_URL)
      --upstash-url <url>   Keep sessions in Upstash Redis over REST (@upstash/redis)
                            (default: $UPSTASH_REDIS_REST_URL)
      --upstash-token <t>   The Upstash REST token (default: $UPSTASH_REDIS_REST_TOKEN)
      --tools <module>      Register the tools a JavaScript module exports: its default export
                            or named exports that are tool definitions, arrays of them, or a
                            ToolRegistry (repeatable)
      --token <token>       Require "Authorization: Bearer <token>" on every route but /health
                            (default: $ENCLAVE_BROKER_TOKEN)
      --log-level <level>   debug, info, warn, error or silent (default: $LOG_LEVEL or info)
      --cors-origin <o>     Allow browser requests from this origin, e.g. https://app.example.com
                            (repeatable; default: every origin, *)
      --metrics             Serve Prometheus metrics at /metrics
      --no-docs             Do not serve /openapi.json and the /docs page
      --timeout <ms>        Execution timeout of a session (default 30000; a request may lower it)
      --memory-limit <size> QuickJS memory per session, e.g. 64MiB (default 64MiB)
      --max-tool-calls <n>  Tool calls per session (default 100)
      --max-sessions <n>    Sessions this process runs at once; more answer 503 (default 1000)
      --rate-limit <n>      Requests per client (token, else IP) and window; more answer 429
      --rate-limit-window <ms>
                            The rate-limit window (default 60000)
  -v, --version             Print the version and exit
  -h, --help                Show this help and exit

Without --redis-url or --upstash-url, sessions live in this process's memory.
SIGTERM or SIGINT stops accepting requests, ends live sessions with CANCELLED and exits.
`;
