import { diagnostic } from './diagnostics.ts';
import type { Diagnostic } from './types.ts';
import { childPath, type DocumentSource } from './yaml-source.ts';

/**
 * Every string of a spec may reach a manifest, a label, a container's command line or a shell
 * script on a node. Control characters there (a NUL ends a C string, a newline starts a new
 * argument, header or YAML line) and invisible ones (bidirectional overrides make text read
 * differently than it runs) have no legitimate use in a spec, so any string or key carrying one
 * is an error at its position: C0 and C1 controls, DEL, zero-width and bidirectional marks, line
 * and paragraph separators, and a byte-order mark inside the text.
 */
const HIDDEN = /[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]/;

const NAMES: Readonly<Record<string, string>> = {
  '\u0000': 'a NUL',
  '\t': 'a tab',
  '\n': 'a newline',
  '\r': 'a carriage return',
  '\u001b': 'an escape',
};

function describe(char: string): string {
  const code = `U+${char.codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0')}`;
  return NAMES[char] ? `${NAMES[char]} (${code})` : `the invisible or control character ${code}`;
}

function problem(text: string): string | undefined {
  const found = HIDDEN.exec(text);
  if (!found) return undefined;
  return `contains ${describe(found[0])} at character ${found.index + 1}; control and invisible characters are not allowed in a spec`;
}

/** Every key and string value of one document holding a hidden character, each at its position. */
export function hiddenCharacters(value: unknown, source: DocumentSource): Diagnostic[] {
  const found: Diagnostic[] = [];
  const stack: [unknown, string][] = [[value, '']];
  for (let next = stack.pop(); next; next = stack.pop()) {
    const [node, path] = next;
    if (typeof node === 'string') {
      const message = problem(node);
      if (message) found.push(diagnostic(source.at(path), 'error', path, message));
    } else if (Array.isArray(node)) {
      node.forEach((item, index) => stack.push([item, childPath(path, index)]));
    } else if (node !== null && typeof node === 'object') {
      for (const [key, item] of Object.entries(node)) {
        const keyMessage = problem(key);
        if (keyMessage) found.push(diagnostic(source.keyAt(childPath(path, key)), 'error', childPath(path, key), `key ${keyMessage}`));
        stack.push([item, childPath(path, key)]);
      }
    }
  }
  return found;
}
