/**
 * Names of MCP sources and of the tools they bring.
 *
 * A remote tool `search` of the source `docs` is the tool `docs:search`. MCP tool names may
 * hold characters broker tool names may not: every character other than a letter, a digit,
 * `_`, `.`, `-` and `/` becomes `_`, and the whole name is cut to 128 characters. When two
 * remote tools of a source end up with the same name, the first listed keeps it and the
 * other is left out (with a warning). Calls always send the tool's own MCP name.
 */

const SOURCE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function assertSourceName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !SOURCE_NAME.test(name)) {
    throw new TypeError(`invalid MCP source name ${JSON.stringify(name)}: use 1-64 letters, digits, _ . - (starting with a letter or digit)`);
  }
}

/** The broker's name of a remote tool: `<source>:<escaped tool name>`. */
export function brokerToolName(source: string, mcpName: string): string {
  const escaped = mcpName.replace(/[^A-Za-z0-9_.\-/]/g, '_') || '_';
  return `${source}:${escaped}`.slice(0, 128);
}
