import type { ToolDefinition } from '../tools/types.js';

function words(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/**
 * Tools ranked by how many words of the query their name and description contain (a word of
 * the name counts double); tools matching no word are left out. An empty query lists all.
 */
export function searchTools(tools: readonly ToolDefinition[], query: string, limit: number): ToolDefinition[] {
  const wanted = [...new Set(words(query))];
  if (wanted.length === 0) return tools.slice(0, limit);
  const scored: Array<{ tool: ToolDefinition; score: number; index: number }> = [];
  tools.forEach((tool, index) => {
    const name = tool.name.toLowerCase();
    const description = (tool.description ?? '').toLowerCase();
    let score = 0;
    for (const w of wanted) {
      if (name.includes(w)) score += 2;
      if (description.includes(w)) score += 1;
    }
    if (score > 0) scored.push({ tool, score, index });
  });
  scored.sort((a, b) => b.score - a.score || a.index - b.index);
  return scored.slice(0, limit).map((s) => s.tool);
}
