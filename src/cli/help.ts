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
  -h, --help                Show this help and exit

Without --redis-url or --upstash-url, sessions live in this process's memory.
SIGTERM or SIGINT stops accepting requests, ends live sessions with CANCELLED and exits.
`;
