/** Parses YAML text into a value (e.g. `parse` from the `yaml` package). */
export type YamlParser = (text: string) => unknown;

let loading: Promise<YamlParser | undefined> | undefined;

/**
 * The YAML parser for specs served as YAML: the one given (`openapi.parseYaml`), else the
 * `yaml` package, loaded on first need on Node and Bun. It is imported by a computed
 * specifier so that bundlers leave it out: the Worker bundle does not carry ≈ 96 KiB for specs
 * most services serve as JSON anyway. On Workers, give `openapi.parseYaml` for YAML specs.
 */
export function yamlParser(given?: YamlParser): Promise<YamlParser | undefined> {
  if (given) return Promise.resolve(given);
  loading ??= (async () => {
    try {
      const specifier = 'yaml';
      const mod = (await import(/* @vite-ignore */ specifier)) as { parse(text: string, options?: object): unknown };
      // `yaml` caps alias expansion by default (maxAliasCount), so "billion laughs" documents fail.
      return (text: string) => mod.parse(text, { prettyErrors: false });
    } catch {
      return undefined;
    }
  })();
  return loading;
}
