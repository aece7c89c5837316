// The broker as users run it: the compiled build (`npm run build`, run by `npm run bench`),
// not the TypeScript sources through tsx (whose transform adds a naming helper to every
// function created at run time). BENCH_SOURCE=ts measures the sources instead.
const fromSource = process.env.BENCH_SOURCE === 'ts';
const load = (path) => import(fromSource ? `../../src/${path}.ts` : `../../dist/src/${path}.js`);

export const { EnclaveBroker } = await load('broker');
export const { ToolRegistry } = await load('tools/registry');
