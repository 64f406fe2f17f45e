import { parser } from '@prometheus-io/lezer-promql';

export interface PromqlFacts {
  /** Offsets of parse errors; empty when the expression parses. */
  readonly errors: readonly number[];
  /** Metric names of every vector selector. */
  readonly metrics: readonly string[];
  /** Metric names read through `rate`, `irate` or `increase`. */
  readonly rated: readonly string[];
}

const RATE_FUNCTIONS = new Set(['rate', 'irate', 'increase']);

/** Parses `expr` with the Prometheus UI's PromQL grammar (syntax only, no type checks). */
export function promql(expr: string): PromqlFacts {
  const tree = parser.parse(expr);
  const errors: number[] = [];
  const metrics: string[] = [];
  const rated: string[] = [];
  tree.iterate({
    enter(ref) {
      if (ref.type.isError) errors.push(ref.from);
      if (ref.name !== 'VectorSelector') return;
      const identifier = ref.node.getChild('Identifier');
      if (!identifier) return;
      const name = expr.slice(identifier.from, identifier.to);
      metrics.push(name);
      const call = ref.node.parent?.name === 'MatrixSelector' ? ref.node.parent.parent?.parent : undefined;
      const fn = call?.name === 'FunctionCall' ? call.getChild('FunctionIdentifier') : null;
      if (fn && RATE_FUNCTIONS.has(expr.slice(fn.from, fn.to))) rated.push(name);
    },
  });
  return { errors, metrics, rated };
}

/** Grafana's query macros and variables replaced by values PromQL accepts. */
export function withoutGrafanaVariables(expr: string): string {
  return expr.replaceAll('$__rate_interval', '5m').replaceAll('$__interval', '1m').replace(/\$\{?(\w+)\}?/g, 'x');
}
