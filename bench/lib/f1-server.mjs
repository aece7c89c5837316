// F1's server, as a user starts one: `enclave-broker` from the packed project (see packed.mjs),
// default options (the worker pool), on a free loopback port printed as the first stdout line.
// Exits when stdin closes.
import { EnclaveBroker } from 'enclave-broker';

const broker = new EnclaveBroker({ logger: { debug() {}, info() {}, warn() {}, error() {} } });
await broker.listen(0, '127.0.0.1');
process.stdout.write(`${broker.port}\n`);
process.stdin.resume();
process.stdin.on('end', () => broker.close().then(() => process.exit(0)));
