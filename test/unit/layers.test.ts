// The layers of src/ point one way: workflows -> activities -> postgres/runtime/cluster ports and
// the small modules under them. Two folders that import each other (say runtime/ and postgres/) are
// one tangled layer, whichever import looks harmless; read from the sources, type imports and
// lazy import() calls included.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Every .ts file below src/ and what it imports of src/ (relative imports, as paths from the root). */
function importGraph(): Map<string, Set<string>> {
  const files = (readdirSync(path.join(ROOT, 'src'), { recursive: true, encoding: 'utf8' }) as string[])
    .filter((f) => f.endsWith('.ts'))
    .map((f) => path.join('src', f));
  const graph = new Map<string, Set<string>>();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(path.join(ROOT, file), 'utf8'), true, true);
    const targets = importedFiles
      .map((i) => i.fileName)
      .filter((name) => name.startsWith('.'))
      .map((name) => path.join(path.dirname(file), name).replace(/\.js$/, '.ts'));
    graph.set(file, new Set(targets));
  }
  return graph;
}

/** A file's layer: its folder right below src/ (src/runtime/), or the file itself when it stands in src/. */
const layerOf = (file: string) => {
  const parts = file.split(path.sep);
  return parts.length > 2 ? `${parts.slice(0, 2).join('/')}/` : parts.join('/');
};

/** The groups of nodes that reach each other (Tarjan's strongly connected components, size > 1). */
function tangles(graph: Map<string, Set<string>>): string[][] {
  let next = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const found: string[][] = [];
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next++);
    stack.push(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) === index.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        group.push(w);
      } while (w !== v);
      if (group.length > 1) found.push(group.sort());
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return found;
}

test('no file of src/ imports itself back through others', () => {
  assert.deepEqual(tangles(importGraph()), []);
});

test('the folders of src/ import each other one way only', () => {
  const imports = [...importGraph()].flatMap(([file, targets]) => [...targets].map((target) => ({ file, target, from: layerOf(file), to: layerOf(target) })));
  const layers = new Map<string, Set<string>>();
  for (const { from, to } of imports) if (from !== to) layers.set(from, (layers.get(from) ?? new Set()).add(to));
  assert.ok(layers.get('src/activities/')?.has('src/postgres/'), 'the graph is read (activities use postgres)');
  const tangled = tangles(layers).map((group) => ({
    layers: group,
    imports: imports.filter((i) => i.from !== i.to && group.includes(i.from) && group.includes(i.to)).map((i) => `${i.file} imports ${i.target}`),
  }));
  assert.deepEqual(tangled, []);
});
