// A real redis-server (or a three-primary Redis Cluster) for the length of `fn`, from the test
// helpers: `fn` gets its URL (or the cluster's `host:port,…` spec).

export async function withRedis(fn) {
  const { RedisServer } = await import('../../test/helpers/redis-server.ts');
  const redis = await RedisServer.start();
  try {
    return await fn(redis.url);
  } finally {
    await redis.stop();
  }
}

export async function withCluster(fn) {
  const { RedisCluster } = await import('../../test/helpers/redis-cluster.ts');
  const cluster = await RedisCluster.start();
  try {
    return await fn(cluster.spec);
  } finally {
    await cluster.stop();
  }
}

/** A redis URL, or `cluster:host:port,host:port,…` for a Redis Cluster. */
export async function redisClient(spec) {
  const { Redis, Cluster } = await import('ioredis');
  if (!spec.startsWith('cluster:')) return new Redis(spec);
  return new Cluster(
    spec
      .slice('cluster:'.length)
      .split(',')
      .map((n) => ({ host: n.split(':')[0], port: Number(n.split(':')[1]) })),
  );
}
