/** Output files: path (with `/`) → content. */
export type Files = ReadonlyMap<string, string>;

export interface FileChange {
  readonly change: 'added' | 'changed' | 'removed';
  readonly path: string;
}

/** The files `after` adds, changes and removes against `before`, sorted by path. */
export function compareTrees(before: Files, after: Files): FileChange[] {
  const changes: FileChange[] = [];
  for (const [path, content] of after) {
    const old = before.get(path);
    if (old === undefined) changes.push({ change: 'added', path });
    else if (old !== content) changes.push({ change: 'changed', path });
  }
  for (const path of before.keys()) if (!after.has(path)) changes.push({ change: 'removed', path });
  return changes.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}
