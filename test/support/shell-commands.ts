/**
 * The external commands a bash script runs, read from its text: every word in command position
 * (after a line start, `;`, `&`, `|`, `&&`, `||`, `(`, `{`, `$(`, `<(`, `!` and the keywords that
 * start a command list), including the command a wrapper runs (`timeout -k 5 30 kubectl`, the
 * scripts' own `run kube …`). Builtins, keywords and the script's own functions are left out.
 *
 * Deliberately small: the node scripts use no heredocs or backticks (a test asserts that, so a new
 * construct is noticed rather than misread). Single-quoted text is literal; of double-quoted text
 * only its `$(…)` substitutions are code, so a message such as "… (check dmesg)" is never taken
 * for a command.
 */

/** Bash builtins and reserved words (bash(1), SHELL BUILTIN COMMANDS and RESERVED WORDS). */
const BASH_BUILTINS = new Set(
  (
    ': . [ [[ ]] alias bg bind break builtin caller cd command compgen complete compopt continue declare dirs disown echo enable ' +
    'eval exec exit export false fc fg getopts hash help history jobs kill let local logout mapfile popd printf pushd pwd read ' +
    'readarray readonly return set shift shopt source suspend test times trap true type typeset ulimit umask unalias unset wait ' +
    'if then else elif fi case esac for select while until do done in function time { } !'
  ).split(' '),
);

/** Words after which the next word is in command position again. */
const COMMAND_LIST_STARTERS = new Set(['if', 'then', 'else', 'elif', 'while', 'until', 'do', '!', 'time', '{']);

/** Commands that run the command given as their first non-option argument. */
const WRAPPERS = new Set(['timeout', 'exec', 'command', 'nohup', 'env']);

/** What `commandsOf` found, and what it could not read. */
export interface ShellCommands {
  readonly commands: ReadonlySet<string>;
  /** The script's own functions (not external). */
  readonly functions: ReadonlySet<string>;
  /** Constructs the reader does not handle: heredocs, backticks. */
  readonly unsupported: readonly string[];
}

/** `script` as code only: comments dropped, single-quoted text blanked, double-quoted text reduced to its `$(…)`. */
function codeOf(script: string): { code: string; unsupported: string[] } {
  const unsupported: string[] = [];
  let out = '';
  let i = 0;
  const src = script.replace(/\\\n/g, ' ');
  // Scans code until `stop` (a closing parenthesis of a substitution), returning the code read.
  const scan = (stop: string | undefined): string => {
    let code = '';
    let depth = 0;
    while (i < src.length) {
      const c = src[i]!;
      if (stop && c === stop && depth === 0) {
        i++;
        return code;
      }
      if (c === '(') depth++;
      if (c === ')') depth--;
      if (c === "'") {
        const end = src.indexOf("'", i + 1);
        i = end < 0 ? src.length : end + 1;
        code += " '' ";
        continue;
      }
      if (c === '"') {
        i++;
        code += ' ""';
        code += doubleQuoted();
        continue;
      }
      if (c === '`') unsupported.push('backticks');
      if (c === '#' && (i === 0 || /\s/.test(src[i - 1]!))) {
        while (i < src.length && src[i] !== '\n') i++;
        continue;
      }
      if (c === '<' && src.startsWith('<<', i) && !src.startsWith('<<<', i)) unsupported.push('heredoc');
      if (c === '<' && src.startsWith('<<<', i)) {
        code += ' <<< ';
        i += 3;
        continue;
      }
      if (src.startsWith('((', i) && src[i - 1] !== '$') {
        // An arithmetic command (or a C-style for): no commands inside.
        i = groupEnd(src, i);
        code += ' : ';
        continue;
      }
      if (src.startsWith('[[', i) && (i === 0 || /\s/.test(src[i - 1]!))) {
        // A test: operands and operators, except the commands of its substitutions.
        i += 2;
        code += ` [[ ${substitutionsUntil(']]')} ]] `;
        continue;
      }
      if (c === '$' && src.startsWith('$((', i)) {
        // Arithmetic holds no commands; skip to its balanced end.
        i = groupEnd(src, i + 1);
        code += ' $ARITH ';
        continue;
      }
      if (c === '$' && src[i + 1] === '{') {
        i = groupEnd(src, i + 1);
        code += ' $VAR ';
        continue;
      }
      code += c;
      i++;
    }
    return code;
  };
  // Inside "…": keep `$(…)` (as ` $( code ) `), blank the rest.
  const doubleQuoted = (): string => substitutionsUntil('"') + '"" ';
  // Up to `end`, only the `$(…)` substitutions, as code.
  const substitutionsUntil = (end: string): string => {
    let code = '';
    while (i < src.length && !src.startsWith(end, i)) {
      if (src[i] === '\\') {
        i += 2;
        continue;
      }
      if (src.startsWith('$((', i)) {
        i = groupEnd(src, i + 1);
        continue;
      }
      if (src.startsWith('$(', i)) {
        i += 2;
        code += ` $( ${scan(')')} ) `;
        continue;
      }
      if (src.startsWith('${', i)) {
        i = groupEnd(src, i + 1);
        continue;
      }
      i++;
    }
    i += end.length;
    return code;
  };
  out = scan(undefined);
  return { code: out, unsupported: [...new Set(unsupported)] };
}

/** Index after the group starting at `open` (a `(` or a `{`), nested groups of the same kind included. */
function groupEnd(src: string, open: number): number {
  const [opener, closer] = src[open] === '{' ? ['{', '}'] : ['(', ')'];
  let depth = 0;
  for (let j = open; j < src.length; j++) {
    if (src[j] === opener) depth++;
    if (src[j] === closer && --depth === 0) return j + 1;
  }
  return src.length;
}

const TOKEN = /\$\(|<\(|&&|\|\||;;|[;&|(){}\n]|<<<|\d*[<>]&?\d*|[^\s;&|(){}<>]+/g;
const SEPARATORS = new Set(['$(', '<(', '&&', '||', ';;', ';', '&', '|', '(', ')', '{', '}', '\n']);

/**
 * The script's functions, and those of them that run their arguments as a command (`"$@"` in
 * command position, like the scripts' `run`): a word after one of those is in command position.
 */
function functionsOf(script: string): { functions: Set<string>; wrappers: Set<string> } {
  const functions = new Set<string>();
  const wrappers = new Set<string>();
  for (const m of script.matchAll(/^([\w-]+)\(\)\s*\{\s*\n([\s\S]*?)^\}/gm)) {
    functions.add(m[1]!);
    if (/(\$\(|^\s*|[;&|]\s*)"\$@"/m.test(m[2]!)) wrappers.add(m[1]!);
  }
  for (const m of script.matchAll(/^([\w-]+)\(\)\s*\{.*\}\s*$/gm)) functions.add(m[1]!);
  return { functions, wrappers };
}

/** The external commands of scripts that source each other (functions of one are known to all). */
export function commandsOf(scripts: readonly string[]): ShellCommands {
  const functions = new Set<string>();
  const wrappers = new Set<string>();
  for (const script of scripts) {
    const found = functionsOf(script);
    for (const f of found.functions) functions.add(f);
    for (const w of found.wrappers) wrappers.add(w);
  }
  const commands = new Set<string>();
  const unsupported = new Set<string>();
  for (const script of scripts) {
    const read = commandsOfScript(script, functions, wrappers);
    for (const c of read.commands) commands.add(c);
    for (const u of read.unsupported) unsupported.add(u);
  }
  return { commands, functions, unsupported: [...unsupported] };
}

function commandsOfScript(script: string, functions: ReadonlySet<string>, wrappers: ReadonlySet<string>): { commands: Set<string>; unsupported: string[] } {
  const { code, unsupported } = codeOf(script);
  const commands = new Set<string>();
  const tokens = code.match(TOKEN) ?? [];
  let expecting = true;
  let wrapped = false;
  let redirectTarget = false;
  let skipUntil: string | undefined;
  // What `expecting` is once the skipped words end.
  let afterSkip = true;
  for (let t = 0; t < tokens.length; t++) {
    const token = tokens[t]!;
    if (skipUntil) {
      if (token === skipUntil || (skipUntil === '\n' && token === ';')) {
        skipUntil = undefined;
        expecting = afterSkip;
      }
      continue;
    }
    if (SEPARATORS.has(token)) {
      redirectTarget = false;
      // `name=( … )` is an array, not a subshell: its words are values.
      if (token === '(' && /=$/.test(tokens[t - 1] ?? '')) {
        skipUntil = ')';
        afterSkip = expecting;
        continue;
      }
      expecting = token !== ')' && token !== '}';
      if (token === ')' || token === '}') expecting = false;
      if (token === '\n' || token === ';' || token === ';;') expecting = true;
      wrapped = false;
      continue;
    }
    if (redirectTarget) {
      redirectTarget = false;
      continue;
    }
    if (/^\d*[<>]/.test(token)) {
      redirectTarget = !/&\d+$/.test(token) && token !== '<<<';
      if (token === '<<<') redirectTarget = true;
      continue;
    }
    if (!expecting) continue;
    // Assignments before a command, and case patterns (`word)`).
    if (/^[A-Za-z_]\w*(\[[^\]]*\])?\+?=/.test(token)) continue;
    if (tokens[t + 1] === ')' && isCasePattern(tokens, t)) {
      expecting = false;
      continue;
    }
    if (token === 'for' || token === 'case' || token === 'select') {
      skipUntil = token === 'case' ? '\n' : 'do';
      afterSkip = true;
      continue;
    }
    if (COMMAND_LIST_STARTERS.has(token)) continue;
    if (wrapped && (/^-/.test(token) || /^\d/.test(token) || /^["$']/.test(token))) continue;
    if (/^["$']/.test(token)) {
      expecting = false;
      continue;
    }
    expecting = false;
    if (BASH_BUILTINS.has(token) || functions.has(token)) {
      expecting = wrappers.has(token);
      continue;
    }
    commands.add(token);
    if (WRAPPERS.has(token)) {
      expecting = true;
      wrapped = true;
    }
  }
  return { commands, unsupported };
}

/** `word)` at the start of a case item: no `(` opened it on its line. */
function isCasePattern(tokens: readonly string[], t: number): boolean {
  for (let j = t - 1; j >= 0; j--) {
    const token = tokens[j]!;
    if (token === '\n' || token === ';;') return true;
    if (token === '(' || token === '$(' || token === '<(') return false;
    if (token !== '|' && !/^[\w*.-]+$/.test(token)) return false;
  }
  return true;
}
